#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what the test suites need and runs every test of the repository:
# go vet, the unit tests and the end-to-end tests in network namespaces
# (tests/netns, which need root), all with the race detector, and every fuzz
# target for FUZZ_TIME (default 10s; scripts/fuzz.sh) beside them.
#
#   scripts/test.sh                         test wgplex (built from ./cmd/wgplex)
#   WGPLEX_TEST_IMPL=wireguard-go scripts/test.sh
#                                           run the end-to-end suite against
#                                           wireguard-go to check the harness
#
# Exits non-zero if any step fails; every step runs regardless, so that one
# run reports everything that is wrong.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

# The reference implementation. wireguard-go's release tags (0.0.YYYYMMDD)
# are not semantic versions, so the module proxy offers only pseudo-versions;
# this is what `go list -m golang.zx2c4.com/wireguard@latest` resolved to
# (the binary reports itself as v0.0.20250522).
WIREGUARD_GO_VERSION=v0.0.0-20260522210424-ecfc5a8d5446

results=()
failed=0
step() {
	local name=$1 start=$SECONDS
	shift
	echo "==> $name"
	if "$@"; then
		results+=("ok    $(printf '%5ds' $((SECONDS - start)))  $name")
	else
		results+=("FAIL  $(printf '%5ds' $((SECONDS - start)))  $name")
		failed=1
	fi
}

# background NAME CMD...: start CMD (a command or a function of this
# script) in the background, its output kept aside; wait_background NAME
# waits for it, prints that output and returns its exit status, so that a
# step can report it.
declare -A BG_PID BG_LOG
background() {
	local name=$1
	shift
	BG_LOG[$name]=$(mktemp)
	"$@" >"${BG_LOG[$name]}" 2>&1 &
	BG_PID[$name]=$!
}
wait_background() {
	local rc=0
	wait "${BG_PID[$1]}" || rc=$?
	cat "${BG_LOG[$1]}"
	rm -f "${BG_LOG[$1]}"
	return "$rc"
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
	# The release build and its checks: the arm64 C cross compiler for
	# wgplex-pkcs11, lintian for the .deb, zip for the Windows archives.
	command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
	command -v lintian >/dev/null || missing+=(lintian)
	command -v zip >/dev/null || missing+=(zip)
	# The shell scripts' lint.
	command -v shellcheck >/dev/null || missing+=(shellcheck)
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
			"${missing[@]}" >/dev/null
}

# go install names the binary "wireguard" after the module's root package;
# the suite is pointed at it explicitly rather than relying on the name.
install_wireguard_go() {
	go install "golang.zx2c4.com/wireguard@${WIREGUARD_GO_VERSION}" &&
		"$GOBIN_DIR/wireguard" --version | head -n 1
}

# Every package, tests included, type-checked for every release target
# (scripts/dist.sh --targets) by tools/typecheck, from source: a change
# that breaks one platform (a function missing from a _bsd.go file, a
# signature that differs on Windows, an unused import behind a build tag)
# fails here. Not `go vet` with GOOS set: vet compiles every dependency
# (grpc, etcd's client, gVisor, ...) once per target, about two minutes of
# this 2-vCPU machine per target on an empty build cache, where the type
# check takes about two seconds. go vet's analyzers run on linux/amd64
# above, over the same code. scripts/dist.sh --check below compiles and
# links the targets CI builds.
cross_typecheck() {
	local bin targets
	bin=$(mktemp -d) || return 1
	mapfile -t targets < <(env -u DIST_TARGETS scripts/dist.sh --targets) &&
		(cd tools && go build -o "$bin/typecheck" ./typecheck) &&
		"$bin/typecheck" "${targets[@]}"
	local rc=$?
	rm -rf "$bin"
	return "$rc"
}

# The release tooling (tools/, a module of its own): vet and test it.
tools_check() {
	(cd tools && go vet ./... && go test -count=1 ./...)
}

# Install the .deb that dist.sh built, run the netns smoke test against the
# installed binary and plugin, purge the package and check that only
# configuration (/etc/wireguard) is left of it. The package is purged
# whatever happens, so that nothing of it outlives the run.
installed_deb() {
	local deb
	deb=$(ls dist/wgplex_*_amd64.deb 2>/dev/null | head -n 1)
	[[ -n $deb ]] || { echo "no dist/wgplex_*_amd64.deb (scripts/dist.sh failed?)" >&2; return 1; }
	if dpkg -s wgplex >/dev/null 2>&1; then
		echo "wgplex is already installed on this machine; not touching it" >&2
		return 1
	fi
	local before after rc=0
	before=$(mktemp) after=$(mktemp)
	find /usr /etc /opt /var/lib/systemd -xdev 2>/dev/null | LC_ALL=C sort >"$before"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "./$deb" >/dev/null || rc=1
	if ((rc == 0)); then
		# -race as the race step built this package: its test binary is
		# reused instead of compiled again without the race detector.
		WGPLEX_TEST_INSTALLED=1 CGO_ENABLED=1 go test -race -count=1 -timeout 5m -run '^TestInstalledPackage$' -v ./tests/netns/ || rc=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq wgplex >/dev/null || rc=1
	find /usr /etc /opt /var/lib/systemd -xdev 2>/dev/null | LC_ALL=C sort >"$after"
	# Left behind may only be /etc/wireguard, which the package creates if
	# absent and never removes: it holds the user's configuration.
	local left
	left=$(LC_ALL=C comm -13 "$before" "$after" | grep -v '^/etc/wireguard$' || true)
	if [[ -n $left ]]; then
		echo "left behind after purging wgplex:" >&2
		echo "$left" >&2
		rc=1
	fi
	if dpkg -s wgplex >/dev/null 2>&1 || [[ -e /usr/bin/wgplex || -e /usr/lib/wgplex ]]; then
		echo "wgplex is still installed after the purge" >&2
		rc=1
	fi
	rm -f "$before" "$after"
	return $rc
}

# lintian on the Debian packages: no errors and no warnings (the ones that
# do not apply are overridden in packaging/lintian-overrides, with reasons).
lintian_debs() {
	lintian --fail-on error,warning dist/*.deb
}

GOBIN_DIR="$(go env GOPATH)/bin"
export PATH="$GOBIN_DIR:$PATH"
export GOBIN="$GOBIN_DIR"
export WIREGUARD_GO_BIN="${WIREGUARD_GO_BIN:-$GOBIN_DIR/wireguard}"

# Fuzzing: every fuzz target for FUZZ_TIME (default 10 s; the AEAD's
# targets twice that), two targets at a time with one worker each
# (FUZZ_JOBS=2), started first and niced, so that it runs on what the
# other steps leave idle (package installs, downloads,
# end-to-end tests waiting on the network) and is waited for at the end.
# 37 targets at 10 s are over six minutes of one CPU besides building
# every package again with coverage instrumentation; at 20 s the fuzzing
# alone outlasted every other step of a warm run by three minutes. CI's
# pass shows that every target runs its seed corpus and finds nothing
# quickly; longer campaigns are `scripts/fuzz.sh 5m`. Two at a time,
# because once the other steps are done the fuzzing still running then
# uses both CPUs instead of one.
FUZZ_TIME=${FUZZ_TIME:-10s}
background fuzz env FUZZ_JOBS="${FUZZ_JOBS:-2}" nice -n 19 scripts/fuzz.sh "$FUZZ_TIME"

step "install packages" install_packages
step "install wireguard-go $WIREGUARD_GO_VERSION" install_wireguard_go
# Static and -trimpath, as dist.sh builds the release and the tests build
# the daemon and its plugins (internal/testbuild): the packages compiled
# for this vet are then reused by those builds instead of compiled again.
# A package's build settings are part of its cache key, and the standard
# library's net package differs with cgo, so a vet with cgo would share
# nothing with them. keyvault-pkcs11's cgo files, left out here, are vetted
# by `go test -race` below (which needs cgo, and vets what it tests).
step "go vet ./..." env CGO_ENABLED=0 go vet -trimpath ./...
step "type-check every package and test for every release target (tools/typecheck)" cross_typecheck
step "tools/: go vet + go test (release tooling)" tools_check
# Warnings and errors only: the info-level notes (quoting style and the
# like) are left to the author.
step "shellcheck -S warning (bench/, scripts/, .ci/run)" shellcheck -x -S warning bench/*.sh scripts/*.sh .ci/run
# tests/netns is named first: go test starts packages in the order given,
# and the end-to-end suite, which takes about as long as all the others
# together and mostly waits on the network, would otherwise start last and
# run alone at the end (a warm run took 366 s in ./... order, 257 s so).
race_packages() {
	local netns=github.com/wgplex/wgplex/tests/netns
	echo "$netns"
	go list ./... | grep -vx "$netns"
}
mapfile -t RACE_PACKAGES < <(race_packages)
# go list failing leaves netns alone in the list: test everything then.
((${#RACE_PACKAGES[@]} > 1)) || RACE_PACKAGES=(./...)
step "go test -race ./... (tests/netns first)" env CGO_ENABLED=1 go test -race -timeout 20m "${RACE_PACKAGES[@]}"
# The AEAD's differential tests in full (every length past two 16-block
# batches against x/crypto and an RFC 8439 reference); under -race they
# run a sample, as the race detector finds nothing in that sequential code
# and makes the full run take minutes.
step "core/aead: exhaustive differential tests (no race detector)" \
	env CGO_ENABLED=0 go test -trimpath -count=1 ./core/aead/
# A plugin written by `wgplex plugin new` builds against this checkout and
# passes its own test (the SDK's conformance suite), for each kind.
scaffold_plugins() {
	local dir kind rc=0
	dir=$(mktemp -d) || return 1
	# Static and -trimpath (for the plugin modules too, through GOFLAGS) as
	# go vet above: the packages compiled there are reused, not compiled
	# again.
	local GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath" CGO_ENABLED=0
	export GOFLAGS CGO_ENABLED
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
# and the default AEAD is x/crypto's; run the engine and the data-path
# scenarios again in the other mode, with core/aead's opt-in AVX-512
# AEAD (x/crypto's still where the CPU lacks AVX-512 IFMA), and with
# every switch that is on by default off: the handshake socket, the TUN
# device's virtio-net header (and with it TSO, USO and GRO) and UDP
# GSO/GRO, so that the plain paths stay tested.
offs=(WGPLEX_UDP_HANDSHAKE_SOCKET=off WGPLEX_TUN_OFFLOAD=off WGPLEX_UDP_GSO=off WGPLEX_UDP_GRO=off)
other_crypto=parallel
(($(nproc) > 2)) && other_crypto=inline
step "WGPLEX_CRYPTO=$other_crypto WGPLEX_AEAD=avx512 ${offs[*]}: core and data-path scenarios" \
	env WGPLEX_CRYPTO=$other_crypto WGPLEX_AEAD=avx512 "${offs[@]}" \
	go test -race -count=1 -timeout 10m ./core/ ./tests/netns/ -run 'Test(CryptoModes|Tunnel|Rekeys|Keepalive|Cookie|HandshakeDuringFlood|FloodHolds|TunnelWgplexToWgplex|InteropWithWireguardGo|Roaming|PersistentKeepalive)'
# The reproducibility check builds every archive twice, from two paths.
# CI checks linux/amd64 and linux/arm64: every kind of package a release
# has (.deb, .rpm, .apk, with the cgo PKCS#11 plugin cross-compiled for
# arm64) and a .tar.gz. Each further target compiles the whole dependency
# graph once more (one to two minutes here on an empty cache): the other
# ten, windows/amd64's .zip among them, are type-checked above and built
# by a release, which runs `scripts/dist.sh --check` over all 12 targets
# (CI_DIST_TARGETS=all does that here).
CI_DIST_TARGETS=${CI_DIST_TARGETS:-linux/amd64 linux/arm64}
[[ $CI_DIST_TARGETS == all ]] && CI_DIST_TARGETS=
step "dist: reproducible archives, packages, SBOMs (scripts/dist.sh --check${CI_DIST_TARGETS:+ for $CI_DIST_TARGETS}, keeps dist/)" \
	env DIST_TARGETS="$CI_DIST_TARGETS" scripts/dist.sh --check
# lintian takes one CPU for half a minute; it runs beside the installed
# package's smoke test and the interop tests, which mostly wait, and is
# waited for after them.
background lintian lintian_debs
step "installed .deb: smoke test in netns, then purge" installed_deb
if [[ -f tests/interop/go.mod ]]; then
	step "tests/interop: go test -race ./..." bash -c 'cd tests/interop && go test -race -timeout 20m ./...'
fi
step "lintian dist/*.deb (in the background since dist)" wait_background lintian
step "fuzz every target for $FUZZ_TIME (scripts/fuzz.sh, in the background since the start)" wait_background fuzz

echo
echo "summary (end-to-end implementation: ${WGPLEX_TEST_IMPL:-wgplex}; ${SECONDS}s in all):"
printf '  %s\n' "${results[@]}"
exit "$failed"
