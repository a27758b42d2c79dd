#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what the test suites need and runs every test of the repository:
# go vet, the unit tests and the end-to-end tests in network namespaces
# (tests/netns, which need root), all with the race detector, and every fuzz
# target for FUZZ_TIME (default 20s; scripts/fuzz.sh) beside them.
#
#   scripts/test.sh                         test wgplex (built from ./cmd/wgplex)
#   WGPLEX_TEST_IMPL=wireguard-go scripts/test.sh
#                                           run the end-to-end suite against
#                                           wireguard-go to check the harness
#
# Exits non-zero if any step fails; every step runs regardless, so that one
# run reports everything that is wrong.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The reference implementation. wireguard-go's release tags (0.0.YYYYMMDD)
# are not semantic versions, so the module proxy offers only pseudo-versions;
# this is what `go list -m golang.zx2c4.com/wireguard@latest` resolved to
# (the binary reports itself as v0.0.20250522).
WIREGUARD_GO_VERSION=v0.0.0-20260522210424-ecfc5a8d5446

results=()
failed=0
step() {
	local name=$1
	shift
	echo "==> $name"
	if "$@"; then
		results+=("ok    $name")
	else
		results+=("FAIL  $name")
		failed=1
	fi
}

install_packages() {
	local missing=()
	command -v wg >/dev/null && command -v wg-quick >/dev/null || missing+=(wireguard-tools)
	command -v iperf3 >/dev/null || missing+=(iperf3)
	command -v ip >/dev/null && command -v ss >/dev/null || missing+=(iproute2)
	command -v ping >/dev/null || missing+=(iputils-ping)
	command -v pgrep >/dev/null || missing+=(procps)
	# The PKCS#11 key vault tests: a SoftHSM2 token, and a C compiler for the
	# plugin's cgo binding.
	command -v softhsm2-util >/dev/null || missing+=(softhsm2)
	command -v gcc >/dev/null || missing+=(gcc libc6-dev)
	command -v promtool >/dev/null || missing+=(prometheus)
	# The etcd discovery tests start a real etcd server.
	command -v etcd >/dev/null || missing+=(etcd-server)
	# The full-tunnel tests compare the nftables ruleset before and after.
	command -v nft >/dev/null || missing+=(nftables)
	# The Python key vault example (plugins/examples/python-keyvault).
	/usr/bin/python3 -c 'import grpc, cryptography' 2>/dev/null || missing+=(python3-grpcio python3-cryptography)
	# etcdctl, to play the attacker who writes the registry.
	command -v etcdctl >/dev/null || missing+=(etcd-client)
	[[ ${#missing[@]} -eq 0 ]] && return 0
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		if ! command -v sudo >/dev/null; then
			echo "missing ${missing[*]} and not root: the end-to-end tests will skip (or fail with CI=true)" >&2
			return 1
		fi
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update -qq &&
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			wireguard-tools iperf3 iproute2 iputils-ping procps prometheus softhsm2 gcc libc6-dev etcd-server etcd-client nftables \
			python3-grpcio python3-cryptography >/dev/null
}

# go install names the binary "wireguard" after the module's root package;
# the suite is pointed at it explicitly rather than relying on the name.
install_wireguard_go() {
	go install "golang.zx2c4.com/wireguard@${WIREGUARD_GO_VERSION}" &&
		"$GOBIN_DIR/wireguard" --version | head -n 1
}

# Every release target other than this host's: go vet of every package
# (tests included) and a build of the binary, without cgo as releases are
# built, so that a change breaking one platform fails here. Reuses the build
# cache, so after the first run only changed packages are compiled again.
CROSS_TARGETS=(
	linux/arm64 linux/arm/7 linux/riscv64
	freebsd/amd64 freebsd/arm64 openbsd/amd64 netbsd/amd64
	darwin/amd64 darwin/arm64
	windows/amd64 windows/arm64
)
cross_vet_build() {
	local t goos goarch goarm bad=()
	for t in "${CROSS_TARGETS[@]}"; do
		IFS=/ read -r goos goarch goarm <<<"$t"
		# The same -trimpath/-buildvcs as scripts/dist.sh, so that the
		# release build below reuses these compiled packages.
		if ! GOOS=$goos GOARCH=$goarch GOARM=$goarm CGO_ENABLED=0 go vet -trimpath -buildvcs=false ./... ||
			! GOOS=$goos GOARCH=$goarch GOARM=$goarm CGO_ENABLED=0 go build -trimpath -buildvcs=false -o /dev/null ./cmd/wgplex; then
			bad+=("$t")
		fi
	done
	((${#bad[@]} == 0)) || { echo "cross vet/build failed for: ${bad[*]}" >&2; return 1; }
}

GOBIN_DIR="$(go env GOPATH)/bin"
export PATH="$GOBIN_DIR:$PATH"
export GOBIN="$GOBIN_DIR"
export WIREGUARD_GO_BIN="${WIREGUARD_GO_BIN:-$GOBIN_DIR/wireguard}"

# Fuzzing: every fuzz target for FUZZ_TIME (default 20 s) with one worker,
# started first and niced, so that it runs on what the other steps leave
# idle (package installs, downloads, end-to-end tests waiting on the
# network) and is waited for at the end. Alone, with the ordinary build
# cache warm, it took about 13 minutes of one CPU on a 2-vCPU machine
# (22 targets: 7.5 minutes of fuzzing, the rest building every package and
# its dependencies again with coverage instrumentation); beside the other
# steps it mostly fills their idle time.
FUZZ_TIME=${FUZZ_TIME:-20s}
fuzz_log=$(mktemp)
nice -n 19 scripts/fuzz.sh "$FUZZ_TIME" >"$fuzz_log" 2>&1 &
fuzz_pid=$!
wait_fuzz() {
	local rc=0
	wait "$fuzz_pid" || rc=$?
	cat "$fuzz_log"
	rm -f "$fuzz_log"
	return "$rc"
}

step "install packages" install_packages
step "install wireguard-go $WIREGUARD_GO_VERSION" install_wireguard_go
step "go vet ./..." go vet ./...
step "cross vet + build (${#CROSS_TARGETS[@]} targets)" cross_vet_build
step "go test -race ./..." go test -race -timeout 20m ./...
# A plugin written by `wgplex plugin new` builds against this checkout and
# passes its own test (the SDK's conformance suite), for each kind.
scaffold_plugins() {
	local dir kind rc=0
	dir=$(mktemp -d) || return 1
	go build -o "$dir/wgplex" ./cmd/wgplex || rc=1
	for kind in keyvault discovery; do
		((rc == 0)) || break
		"$dir/wgplex" plugin new --wgplex-src "$PWD" "$kind" "my-$kind" "$dir/my-$kind" >/dev/null &&
			(cd "$dir/my-$kind" && go vet ./... && go test -count=1 ./...) || rc=1
	done
	rm -rf "$dir"
	return "$rc"
}
step "wgplex plugin new: scaffolded plugins pass their own tests" scaffold_plugins
# The default crypto mode depends on the CPU count (inline on <= 2 CPUs)
# and the AEAD on the CPU (core/aead's AVX-512 code where it can run); run
# the engine and the data-path scenarios again in the other mode, with
# x/crypto's AEAD.
other_crypto=parallel
(($(nproc) > 2)) && other_crypto=inline
step "WGPLEX_CRYPTO=$other_crypto WGPLEX_AEAD=generic: core and data-path scenarios" \
	env WGPLEX_CRYPTO=$other_crypto WGPLEX_AEAD=generic \
	go test -race -count=1 -timeout 10m ./core/ ./tests/netns/ -run 'Test(CryptoModes|Tunnel|Rekeys|Keepalive|Cookie|TunnelWgplexToWgplex|InteropWithWireguardGo|Roaming|PersistentKeepalive)'
step "dist: reproducible archives and .deb (scripts/dist.sh --check)" scripts/dist.sh --check
if [[ -f tests/interop/go.mod ]]; then
	step "tests/interop: go test -race ./..." bash -c 'cd tests/interop && go test -race -timeout 20m ./...'
fi
step "fuzz every target for $FUZZ_TIME (scripts/fuzz.sh, in the background since the start)" wait_fuzz

echo
echo "summary (end-to-end implementation: ${WGPLEX_TEST_IMPL:-wgplex}):"
printf '  %s\n' "${results[@]}"
exit "$failed"
