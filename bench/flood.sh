#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The handshake flood of the bench scripts (sourced, not run): a third
# namespace NS_F joined to B's, and bench/benchtool sending FLOOD_PPS
# initiations a second with a valid MAC1 from it to B's daemon. The caller
# sets NS_B, NS_F, IF, WORK, BENCHTOOL and FLOOD_PPS, and may set FLOOD_PIN
# (a command prefix such as "taskset -c 4-7") to place the sender. Needs
# bench/netns-pair.sh sourced first (veth_join).

FLOOD_PID=
FLOOD_PIN=()

# flood_ns_up: a third namespace joined to B by its own veth, the flood's
# source. B's daemon listens on every address, so 10.231.1.2:51820 reaches it.
flood_ns_up() {
	ip netns del "$NS_F" >/dev/null 2>&1 || true
	ip netns add "$NS_F"
	ip -n "$NS_F" link set lo up
	veth_join "$NS_F" wgpxbf0 10.231.1.1/24 "$NS_B" wgpxbf1 10.231.1.2/24
}

# flood_start SECONDS [PORT]: the flood against B (its daemon's port unless
# PORT is given), in the background.
flood_start() {
	local pub
	pub=$(ip netns exec "$NS_B" wg show "${IF}b" public-key)
	ip netns exec "$NS_F" "${FLOOD_PIN[@]}" "$BENCHTOOL" flood -to "10.231.1.2:${2:-51820}" -pub "$pub" \
		-rate "${FLOOD_PPS:?}" -for "${1}s" >"$WORK/flood.out" 2>&1 &
	FLOOD_PID=$!
	sleep 1 # let the responder notice it is under load
}
flood_stop() {
	if [[ -n $FLOOD_PID ]]; then
		kill "$FLOOD_PID" 2>/dev/null || true
		wait "$FLOOD_PID" 2>/dev/null || true
	fi
	FLOOD_PID=
}

# flood_down: the flood stopped and its namespace gone (safe to call when
# neither exists, as from an EXIT trap).
flood_down() {
	flood_stop
	ip netns del "$NS_F" >/dev/null 2>&1 || true
}

# flood_pps: the rate the last flood achieved, from benchtool's summary.
flood_pps() {
	sed -n 's/.*pps=\([0-9]*\).*/\1/p' "$WORK/flood.out"
}
