#!/bin/sh
# SPDX-License-Identifier: MIT
# After installing or upgrading wgplex (dpkg: configure; rpm: 1 or 2;
# apk: the new version): make sure /etc/wireguard exists, readable by root
# only as it holds private keys, without touching one that exists; and
# let systemd see the units.
set -e

case "$1" in
abort-*) exit 0 ;;
esac

if [ ! -d /etc/wireguard ]; then
	mkdir -m 0700 /etc/wireguard
fi

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
