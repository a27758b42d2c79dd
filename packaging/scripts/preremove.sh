#!/bin/sh
# SPDX-License-Identifier: MIT
# Before wgplex is removed: stop every running instance of its units, so
# that no daemon outlives its binary. Not on an upgrade (dpkg: upgrade;
# rpm: 1, an instance of the package remains), where systemd keeps the
# running daemons until they are restarted. Configuration in
# /etc/wireguard is never touched.
set -e

case "$1" in
upgrade | failed-upgrade | 1) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	units=$(systemctl list-units --all --plain --no-legend --type=service \
		'wgplex@*.service' 'wgplex-daemon@*.service' 2>/dev/null | awk '{ print $1 }')
	if [ -n "$units" ]; then
		# Stopping runs "wgplex down", which still needs the binary.
		systemctl stop $units || true
	fi
fi
exit 0
