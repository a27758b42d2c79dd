#!/bin/sh
# SPDX-License-Identifier: MIT
# After wgplex is removed: let systemd forget the units. On purge (dpkg)
# or erase (rpm: 0) the links "systemctl enable wgplex@IF" made go too, as
# nothing can start them any more; /etc/wireguard and its configuration
# files stay.
set -e

case "$1" in
purge | 0)
	for link in /etc/systemd/system/*.wants/wgplex@*.service /etc/systemd/system/*.wants/wgplex-daemon@*.service; do
		if [ -L "$link" ]; then
			rm -f "$link"
		fi
	done
	;;
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
