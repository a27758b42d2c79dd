#!/usr/bin/env bash
# Soak test: hours of traffic, rekeys, roaming, peer churn and handshake
# floods against two wgplex daemons and a wireguard-go peer, with every
# daemon's memory, goroutines, threads and file descriptors sampled
# throughout. Fails if any of them grows without bound.
#
#   sudo bench/soak.sh                    60 minutes
#   sudo bench/soak.sh -d 240             four hours
#   sudo bench/soak.sh -d 5 -s 15         a quick check: 5 minutes, a step every 15 s
#
# Options:
#   -d, --minutes N   duration (default 60)
#   -s, --step S      seconds per step (default 60); every step samples
#                     the daemons, moves B to its other underlay address
#                     (roaming), replaces 1,000 peers on A and checks the
#                     tunnels; every 3rd step forces a new handshake A-B;
#                     every 10th floods A with handshake initiations for 10 s
#   -n, --churn N     peers replaced per step (default 1000)
#   --tcp-rate R      offered TCP rate of each stream, iperf3 -b syntax (default 30M)
#   --udp-rate R      offered UDP rate (default 10M)
#   --wgplex BIN      use this binary instead of building ./cmd/wgplex
#   -o, --out FILE    results (default bench/results/soak-<date>.md; the raw
#                     samples go next to it as .csv)
#
# Layout: namespaces A, B (wgplex) and C (wireguard-go) on one bridge in a
# fourth namespace (the switch), underlay 10.241.0.0/24, tunnel
# 10.242.0.0/24 (A .1, B .2, C .3). Traffic: TCP B->A, TCP A->C, UDP C->A,
# all through the tunnel, each in a loop of 60-second iperf3 runs. /metrics
# of both wgplex daemons is scraped every second.
#
# Verdict: per daemon and figure, the median of the last third of the
# samples against the first third's (bench/soaktool report). Tunnel checks
# that fail (a ping, a roam not followed, a forced handshake not completed)
# are counted in the results; more than 5% of them failing fails the run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

MINUTES=60
STEP=60
CHURN=1000
TCP_RATE=30M
UDP_RATE=10M
WGPLEX_BIN=
OUT=
while [[ $# -gt 0 ]]; do
	case $1 in
	-d | --minutes) MINUTES=$2; shift ;;
	-s | --step) STEP=$2; shift ;;
	-n | --churn) CHURN=$2; shift ;;
	--tcp-rate) TCP_RATE=$2; shift ;;
	--udp-rate) UDP_RATE=$2; shift ;;
	--wgplex) WGPLEX_BIN=$2; shift ;;
	-o | --out) OUT=$2; shift ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[[ $(id -u) -eq 0 ]] || { echo "soak.sh needs root (network namespaces)" >&2; exit 1; }
for tool in ip wg iperf3 curl ping; do
	command -v "$tool" >/dev/null || { echo "soak.sh needs $tool" >&2; exit 1; }
done

STAMP=$(date -u +%Y-%m-%d-%H%M%S)
OUT=${OUT:-bench/results/soak-$STAMP.md}
CSV=${OUT%.md}.csv
mkdir -p "$(dirname "$OUT")"

# Names unique to this run, so that two runs (or a test suite) on the same
# host do not collide; interface names stay within 15 characters.
ID=$(($$ % 100000))
NS_SW=wgpxsoak$ID-sw NS_A=wgpxsoak$ID-a NS_B=wgpxsoak$ID-b NS_C=wgpxsoak$ID-c
IF_A=wgsk${ID}a IF_B=wgsk${ID}b IF_C=wgsk${ID}c
WORK=$(mktemp -d /tmp/wgplex-soak.XXXXXX)
BG=() # background loops and daemons started here, killed by pid at the end

cleanup() {
	set +e
	local pid ns
	for pid in "${BG[@]}"; do kill "$pid" 2>/dev/null; done
	for ns in "$NS_A" "$NS_B" "$NS_C" "$NS_SW"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
	done
	sleep 0.5
	for ns in "$NS_A" "$NS_B" "$NS_C" "$NS_SW"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	rm -f "/var/run/wireguard/$IF_A.sock" "/var/run/wireguard/$IF_B.sock" "/var/run/wireguard/$IF_C.sock"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date -u +%T)] $*"; }

# Binaries: wgplex, wireguard-go (the version scripts/test.sh pins) and the
# helper.
if [[ -z $WGPLEX_BIN ]]; then
	go build -o "$WORK/wgplex" ./cmd/wgplex
	WGPLEX_BIN=$WORK/wgplex
fi
WGGO_BIN=$(go env GOPATH)/bin/wireguard
if [[ ! -x $WGGO_BIN ]]; then
	GOBIN=$(dirname "$WGGO_BIN") go install golang.zx2c4.com/wireguard@v0.0.0-20260522210424-ecfc5a8d5446
fi
go build -o "$WORK/soaktool" ./bench/soaktool
ST=$WORK/soaktool

# The switch: one bridge, a veth port per namespace.
ip netns add "$NS_SW"
ip -n "$NS_SW" link add br0 type bridge
ip -n "$NS_SW" link set br0 up
ip -n "$NS_SW" addr add 10.241.0.254/24 dev br0
ip -n "$NS_SW" link set lo up
n=0
for x in a b c; do
	ns_var=NS_${x^^}
	ns=${!ns_var}
	n=$((n + 1))
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip link add "sk${ID}$x" netns "$ns" type veth peer name "sk${ID}p$x" netns "$NS_SW"
	ip -n "$NS_SW" link set "sk${ID}p$x" master br0 up
	# Roaming removes B's first address while the second stays: without
	# promotion the kernel would remove both.
	ip netns exec "$ns" sysctl -qw "net.ipv4.conf.sk${ID}$x.promote_secondaries=1"
	ip -n "$ns" addr add "10.241.0.$n/24" dev "sk${ID}$x"
	ip -n "$ns" link set "sk${ID}$x" up
done

for x in a b c; do (umask 077 && wg genkey >"$WORK/$x.key" && wg pubkey <"$WORK/$x.key" >"$WORK/$x.pub"); done
PUB_A=$(cat "$WORK/a.pub") PUB_B=$(cat "$WORK/b.pub") PUB_C=$(cat "$WORK/c.pub")

# Daemons in the foreground of background jobs, so that their pids are
# known and they die with the namespaces.
ip netns exec "$NS_A" env LOG_LEVEL=error WGPLEX_METRICS_LISTEN=127.0.0.1:9586 "$WGPLEX_BIN" -f "$IF_A" >"$WORK/a.log" 2>&1 &
PID_A=$!
ip netns exec "$NS_B" env LOG_LEVEL=error WGPLEX_METRICS_LISTEN=127.0.0.1:9586 "$WGPLEX_BIN" -f "$IF_B" >"$WORK/b.log" 2>&1 &
PID_B=$!
ip netns exec "$NS_C" env LOG_LEVEL=error "$WGGO_BIN" -f "$IF_C" >"$WORK/c.log" 2>&1 &
PID_C=$!
BG+=("$PID_A" "$PID_B" "$PID_C")
for ifn in "$IF_A" "$IF_B" "$IF_C"; do
	for _ in $(seq 100); do [[ -S /var/run/wireguard/$ifn.sock ]] && break; sleep 0.1; done
	[[ -S /var/run/wireguard/$ifn.sock ]] || { echo "daemon for $ifn did not start" >&2; cat "$WORK"/*.log >&2; exit 1; }
done

ip netns exec "$NS_A" wg set "$IF_A" private-key "$WORK/a.key" listen-port 51820 \
	peer "$PUB_B" allowed-ips 10.242.0.2/32 endpoint 10.241.0.2:51820 \
	peer "$PUB_C" allowed-ips 10.242.0.3/32 endpoint 10.241.0.3:51820
ip netns exec "$NS_B" wg set "$IF_B" private-key "$WORK/b.key" listen-port 51820 \
	peer "$PUB_A" allowed-ips 10.242.0.1/32 endpoint 10.241.0.1:51820 persistent-keepalive 5
ip netns exec "$NS_C" wg set "$IF_C" private-key "$WORK/c.key" listen-port 51820 \
	peer "$PUB_A" allowed-ips 10.242.0.1/32 endpoint 10.241.0.1:51820 persistent-keepalive 5
n=0
for x in a b c; do
	ns_var=NS_${x^^} if_var=IF_${x^^}
	n=$((n + 1))
	ip -n "${!ns_var}" addr add "10.242.0.$n/24" dev "${!if_var}"
	ip -n "${!ns_var}" link set "${!if_var}" mtu 1420 up
done
ip netns exec "$NS_A" ping -c 1 -W 5 10.242.0.2 >/dev/null
ip netns exec "$NS_A" ping -c 1 -W 5 10.242.0.3 >/dev/null
log "tunnels up: A $PUB_A, B $PUB_B, C (wireguard-go) $PUB_C"

# Traffic: each a loop of 60-second iperf3 runs, restarted when one ends or
# fails (a roam or a forced handshake may stall one for a moment).
loop() { (while :; do "$@" >/dev/null 2>&1 || sleep 1; done) & BG+=($!); }
loop ip netns exec "$NS_A" iperf3 -s -p 5201 -1
loop ip netns exec "$NS_A" iperf3 -s -p 5202 -1
loop ip netns exec "$NS_C" iperf3 -s -p 5203 -1
sleep 1
loop ip netns exec "$NS_B" iperf3 -c 10.242.0.1 -p 5201 -t 60 -b "$TCP_RATE"
loop ip netns exec "$NS_C" iperf3 -c 10.242.0.1 -p 5202 -t 60 -u -b "$UDP_RATE" -l 1200
loop ip netns exec "$NS_A" iperf3 -c 10.242.0.3 -p 5203 -t 60 -b "$TCP_RATE"

# /metrics every second; failures are counted.
: >"$WORK/scrapes" && : >"$WORK/scrape-fail"
for x in A B; do
	ns_var=NS_$x
	(while :; do
		if ip netns exec "${!ns_var}" curl -sf -m 2 -o /dev/null http://127.0.0.1:9586/metrics; then echo >>"$WORK/scrapes"; else echo >>"$WORK/scrape-fail"; fi
		sleep 1
	done) &
	BG+=($!)
done

echo "time,daemon,rss_kib,heap_inuse_bytes,goroutines,threads,fds" >"$CSV"
sample_all() {
	# /metrics listens on each namespace's loopback.
	ip netns exec "$NS_A" "$ST" sample -name wgplex-A -pid "$PID_A" -metrics http://127.0.0.1:9586/metrics >>"$CSV"
	ip netns exec "$NS_B" "$ST" sample -name wgplex-B -pid "$PID_B" -metrics http://127.0.0.1:9586/metrics >>"$CSV"
	"$ST" sample -name wireguard-go-C -pid "$PID_C" >>"$CSV"
}

# wait_for DEADLINE_S CMD...: true once CMD succeeds, false at the deadline.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	while ((SECONDS < end)); do "$@" && return 0; sleep 0.5; done
	return 1
}
endpoint_is() { ip netns exec "$NS_A" wg show "$IF_A" endpoints | grep -q "^$PUB_B	$1:"; }
handshake_after() {
	local t
	t=$(ip netns exec "$NS_A" wg show "$IF_A" latest-handshakes | awk -v k="$PUB_B" '$1 == k {print $2}')
	[[ -n $t ]] && ((t > $1))
}

checks=0 failed=0
check() {
	local what=$1
	shift
	checks=$((checks + 1))
	if ! "$@"; then failed=$((failed + 1)); log "check failed: $what"; fi
}

steps=$((MINUTES * 60 / STEP))
b_addr=10.241.0.2
start=$SECONDS
sample_all
log "soak for $MINUTES min: $steps steps of $STEP s; samples in $CSV"
for ((i = 1; i <= steps; i++)); do
	next=$((start + i * STEP))
	# Roaming: B leaves its address for the other one; A must follow.
	new=10.241.0.12
	[[ $b_addr == 10.241.0.12 ]] && new=10.241.0.2
	ip -n "$NS_B" addr add "$new/24" dev "sk${ID}b"
	ip -n "$NS_B" addr del "$b_addr/24" dev "sk${ID}b"
	b_addr=$new
	check "A follows B to $b_addr" wait_for 20 endpoint_is "$b_addr"
	# Peer churn on A: the previous 1,000 out, 1,000 new in, one request.
	check "churn round $i" "$ST" churn -sock "/var/run/wireguard/$IF_A.sock" -n "$CHURN" -round "$i"
	if ((i % 3 == 0)); then
		# A forgets B and learns it again: the next packet to B must start
		# a new handshake.
		now=$(date +%s)
		ip netns exec "$NS_A" wg set "$IF_A" peer "$PUB_B" remove
		ip netns exec "$NS_A" wg set "$IF_A" peer "$PUB_B" allowed-ips 10.242.0.2/32 endpoint "$b_addr:51820"
		check "forced handshake A-B" wait_for 30 handshake_after "$now"
	fi
	if ((i % 10 == 5)); then
		log "handshake flood on A: $(ip netns exec "$NS_SW" "$ST" flood -to 10.241.0.1:51820 -pub "$PUB_A" -for 10s)"
	fi
	check "ping A->B" ip netns exec "$NS_A" ping -c 3 -i 0.3 -W 3 -q 10.242.0.2 >/dev/null
	check "ping A->C" ip netns exec "$NS_A" ping -c 3 -i 0.3 -W 3 -q 10.242.0.3 >/dev/null
	while ((SECONDS < next)); do sleep 1; done
	sample_all
	((i % 5 == 0)) && log "step $i/$steps: $failed of $checks checks failed"
done

hs=$(ip netns exec "$NS_A" curl -sf http://127.0.0.1:9586/metrics | grep -E '^wgplex_(handshake_messages|handshakes|cookie)' | sed 's/^/    /' || true)
scrapes=$(wc -l <"$WORK/scrapes") scrape_fail=$(wc -l <"$WORK/scrape-fail")
verdict=0
table=$("$ST" report -csv "$CSV") || verdict=1
{
	echo "# Soak: $MINUTES minutes ($STAMP)"
	echo
	echo "wgplex $("$WGPLEX_BIN" --version 2>/dev/null | head -n1), wireguard-go $("$WGGO_BIN" --version 2>/dev/null | head -n1)"
	echo "on $(nproc) CPUs. Every $STEP s: roam B, replace $CHURN peers on A, ping A->B and A->C;"
	echo "every $((3 * STEP)) s a forced handshake A-B; every $((10 * STEP)) s a 10 s flood of MAC1-valid"
	echo "initiations on A. Traffic: TCP B->A and A->C at $TCP_RATE, UDP C->A at $UDP_RATE."
	echo
	echo "Tunnel checks: $((checks - failed)) of $checks passed. /metrics scrapes: $scrapes ok, $scrape_fail failed."
	echo
	echo "Samples every $STEP s (first one, at start-up, left out of the verdict):"
	echo
	echo "$table"
	echo
	echo "A's handshake counters at the end:"
	echo
	echo "$hs"
} >"$OUT"
cat "$OUT"
if ((checks > 0 && failed * 20 > checks)); then
	echo "soak.sh: $failed of $checks tunnel checks failed" >&2
	verdict=1
fi
exit "$verdict"
