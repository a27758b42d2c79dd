#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the release into dist/, reproducibly: the same commit gives
# byte-identical files whoever builds it, wherever the tree is checked out.
#
#   scripts/dist.sh            build dist/ from the committed tree (HEAD)
#   scripts/dist.sh --check    build twice from two checkouts at different
#                              paths and fail unless every file is identical;
#                              if they are, dist/ gets them
#   scripts/dist.sh --targets  print the release targets, one per line
#
# For every target an archive (.tar.gz; .zip for Windows) holding wgplex,
# the plugins keyvault-file, discovery-etcd and discovery-dir, LICENSE,
# THIRD_PARTY_NOTICES.txt, CHANGELOG.md, README.md and (not on Windows) the
# man page and shell completions; beside each archive its CycloneDX SBOM
# (.cdx.json). For linux amd64 and arm64 the wgplex package as .deb, .rpm
# and .apk, and wgplex-pkcs11 (the cgo PKCS#11 plugin) as .deb and .rpm
# when the C compiler for the target is installed (gcc;
# gcc-aarch64-linux-gnu). SHA256SUMS covers everything.
#
# Versions: cmd/wgplex/main.go holds X.Y.Z-dev while X.Y.Z is being
# prepared, and X.Y.Z on the commit tagged vX.Y.Z. A -dev tree gives the
# snapshot X.Y.Z~git.YYYYMMDDHHMMSS.SHA (commit time, UTC; 12 hex digits
# of the commit, "g"-prefixed in the rare case they are all digits), which
# Debian and RPM sort below X.Y.Z; apk, which has no "~", gets
# X.Y.Z_preYYYYMMDDHHMMSS. The binaries are built with
# `go install PKG@vX.Y.Z-git.YYYYMMDDHHMMSS.SHA` from the tree published as
# that module version in a local file proxy (tools/modproxy), so that their
# build information carries the version: `go version -m` shows it as the
# module version of github.com/wgplex/wgplex, and `wgplex --version` the
# same with "~" where semantic versions need "-".
#
# Environment: VERSION (overrides the above), SOURCE_DATE_EPOCH (default:
# the commit's time), DIST (default: dist), DIST_TARGETS (a space-separated
# subset of the targets below, for a quicker build while working on the
# packaging; a release builds them all). Binaries are built with
# -trimpath and an empty build id, static (CGO_ENABLED=0) except
# keyvault-pkcs11; archives have sorted entries, fixed owners and times,
# and gzip without a name or time stamp. The dependencies come from the
# module cache, checked against go.sum (go mod verify) first.
set -Eeuo pipefail
trap 'echo "dist: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

check=0 list_targets=0
case "${1:-}" in
--check) check=1 ;;
--targets) list_targets=1 ;;
"") ;;
*)
	echo "usage: $0 [--check | --targets]" >&2
	exit 2
	;;
esac

MODULE=github.com/wgplex/wgplex
CONTACT="wgplex maintainers <maintainers@wgplex.org>"
SOURCE_URL=https://github.com/wgplex/wgplex

# GOOS/GOARCH[/GOARM] of every release target.
TARGETS=(
	linux/amd64 linux/arm64 linux/arm/7 linux/riscv64
	freebsd/amd64 freebsd/arm64 openbsd/amd64 netbsd/amd64
	darwin/amd64 darwin/arm64
	windows/amd64 windows/arm64
)
if [[ -n ${DIST_TARGETS:-} ]]; then
	read -r -a TARGETS <<<"$DIST_TARGETS"
fi
if ((list_targets)); then
	printf '%s\n' "${TARGETS[@]}"
	exit 0
fi
# The plugins built for every target beside wgplex.
PLUGINS=(keyvault-file discovery-etcd discovery-dir)
# The targets the Linux packages are built for.
PKG_TARGETS=(linux/amd64 linux/arm64)
# The C compiler for keyvault-pkcs11 (cgo) on each package target.
declare -A PKCS11_CC=([linux/amd64]=x86_64-linux-gnu-gcc [linux/arm64]=aarch64-linux-gnu-gcc)

COMMIT=$(git rev-parse HEAD)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}
stamp=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M%S)
base=$(sed -n 's/^var version = "\(.*\)"$/\1/p' cmd/wgplex/main.go)
if [[ -z ${VERSION:-} ]]; then
	if [[ $base == *-dev ]]; then
		sha=$(git rev-parse --short=12 HEAD)
		[[ $sha == *[a-f]* ]] || sha=g$sha
		VERSION=${base%-dev}~git.$stamp.$sha
	else
		VERSION=$base
	fi
fi
if [[ ! $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+(~[0-9A-Za-z.]+)?$ ]]; then
	echo "dist: VERSION $VERSION is not X.Y.Z or X.Y.Z~SUFFIX" >&2
	exit 1
fi
# The same version in the syntax of Go modules, apk and Debian/RPM.
GO_VERSION=v${VERSION/\~/-}
APK_VERSION=$VERSION
[[ $VERSION == *~* ]] && APK_VERSION=${VERSION%%~*}_pre$stamp
PKG_RELEASE=1
DIST=${DIST:-dist}

work=$(mktemp -d "${TMPDIR:-/tmp}/wgplex-dist.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

# The release tools are pinned in their own module, tools/, so that they
# stay out of the module graph of wgplex itself.
TOOLS=$work/tools
(cd tools && GOFLAGS=-mod=readonly go build -trimpath -o "$TOOLS/" \
	github.com/goreleaser/nfpm/v2/cmd/nfpm \
	github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod \
	./notices ./modproxy)

# Every module the build needs, in the module cache and matching go.sum:
# the builds below take them from there (GOPROXY=file://...), not from the
# network.
GOMODCACHE_MAIN=$(go env GOMODCACHE)
GOFLAGS=-mod=readonly go mod download
GOFLAGS=-mod=readonly go mod verify >/dev/null

# export SRC: the committed tree, without the .git directory, so that
# neither uncommitted files nor VCS state reach the build.
export_tree() {
	mkdir -p "$1"
	git -C "$ROOT" archive --format=tar "$COMMIT" | tar -x -C "$1"
}

# reproducible_tar DIR NAME OUT: a gzipped tar of DIR/NAME.
reproducible_tar() {
	# gzip's default level: -9 took 2.5 times as long on the binaries for
	# archives 0.7% smaller, and compressing was then the longest part of
	# a build.
	tar -C "$1" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
		--format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
		-cf - "$2" | gzip -n -6 >"$3"
}

# reproducible_zip DIR NAME OUT: a zip of DIR/NAME, entries sorted, times
# fixed, no extra attributes.
reproducible_zip() {
	(
		cd "$1"
		find "$2" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
		find "$2" -type f | LC_ALL=C sort | TZ=UTC zip -q -X -D -@ "$3"
	)
}

# gz FILE OUT: gzip without name or time, mode 0644.
gz() {
	gzip -n -9 -c "$1" >"$2"
	chmod 0644 "$2"
}

# uuid_of TEXT: a UUID derived from TEXT, for SBOM serial numbers that are
# unique per archive and version yet reproducible.
uuid_of() {
	local h
	h=$(printf '%s' "$1" | sha256sum | cut -c1-32)
	printf 'urn:uuid:%s-%s-5%s-8%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" "${h:17:3}" "${h:20:12}"
}

# build_setup SRC SCRATCH: the settings both phases of a build use (the
# phases run in one shell or in subshells, so these are plain globals).
build_setup() {
	src=$1 scratch=$2
	stage=$scratch/stage proxy=$scratch/proxy gopath=$scratch/gopath modcache=$scratch/modcache
	# go install PKG@VERSION from the file proxy, the other modules from
	# the (verified) module cache, into a module cache of this build's own.
	goenv=(env -u GOFLAGS -u GOBIN GOPATH="$gopath" GOMODCACHE="$modcache" GOFLAGS=-modcacherw
		GOPROXY="file://$proxy,file://$GOMODCACHE_MAIN/cache/download" GOSUMDB=off GONOSUMDB= GOWORK=off
		GOTOOLCHAIN=local)
	ldflags="-s -w -buildid= -X main.version=$VERSION"
	pkgs=("$MODULE/cmd/wgplex@$GO_VERSION")
	local p
	for p in "${PLUGINS[@]}"; do pkgs+=("$MODULE/plugins/$p@$GO_VERSION"); done
	bins=(wgplex "${PLUGINS[@]}")
	timestamp=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
	hostos=$(go env GOHOSTOS) hostarch=$(go env GOHOSTARCH)
}

# target_name GOOS/GOARCH[/GOARM]: sets goos, goarch, goarm, exe and name
# (the archive's name without extension) for one target.
target_name() {
	IFS=/ read -r goos goarch goarm <<<"$1"
	exe=""
	[[ $goos == windows ]] && exe=.exe
	name=wgplex-$VERSION-$goos-$goarch${goarm:+v$goarm}
}

# installed GOOS GOARCH: where go install put this build's binaries for
# the target (GOPATH/bin for the host, GOPATH/bin/GOOS_GOARCH otherwise).
installed() {
	if [[ $1/$2 == "$hostos/$hostarch" ]]; then
		echo "$gopath/bin"
	else
		echo "$gopath/bin/${1}_$2"
	fi
}

# build_binaries SRC SCRATCH: every binary of every target from the tree
# SRC, into SCRATCH/stage/<archive name>/ (keyvault-pkcs11 into
# SCRATCH/stage/pkcs11-bin-<arch>/). The compiler already uses every
# CPU here, so the targets are built one after the other.
build_binaries() {
	build_setup "$1" "$2"
	mkdir -p "$stage" "$gopath" "$modcache"
	"$TOOLS/modproxy" -dir "$src" -version "$GO_VERSION" -time "$timestamp" -o "$proxy"
	local t b
	for t in "${TARGETS[@]}"; do
		target_name "$t"
		mkdir -p "$stage/$name"
		"${goenv[@]}" GOOS="$goos" GOARCH="$goarch" GOARM="$goarm" CGO_ENABLED=0 \
			go install -trimpath -ldflags "$ldflags" "${pkgs[@]}"
		for b in "${bins[@]}"; do
			mv "$(installed "$goos" "$goarch")/$b$exe" "$stage/$name/"
		done
	done
	# keyvault-pkcs11 (cgo) for the package targets whose C compiler is
	# installed; packaged by build_archives (package).
	for t in "${PKG_TARGETS[@]}"; do
		[[ " ${TARGETS[*]} " == *" $t "* ]] || continue
		local cc=${PKCS11_CC[$t]:-}
		[[ -n $cc ]] && command -v "$cc" >/dev/null || continue
		IFS=/ read -r goos goarch <<<"$t"
		# Hardened as Debian builds C programs: position-independent,
		# read-only relocations bound at start, fortified libc calls.
		# internal/testbuild (CgoEnv) builds the plugin for the tests with
		# the same settings, so that on linux/amd64 this build reuses the
		# packages compiled there: keep the two in step.
		"${goenv[@]}" GOOS="$goos" GOARCH="$goarch" CGO_ENABLED=1 CC="$cc" \
			CGO_CFLAGS="-O2 -D_FORTIFY_SOURCE=2" CGO_LDFLAGS="-Wl,-z,relro -Wl,-z,now" \
			go install -trimpath -buildmode=pie -ldflags "$ldflags" "$MODULE/plugins/keyvault-pkcs11@$GO_VERSION"
		mkdir -p "$stage/pkcs11-bin-$goarch"
		mv "$(installed "$goos" "$goarch")/keyvault-pkcs11" "$stage/pkcs11-bin-$goarch/"
	done
}

# build_archives SRC OUT SCRATCH: from the binaries build_binaries left in
# SCRATCH, every archive, SBOM and package into OUT. Mostly one CPU each
# (gzip, the SBOM tool, nfpm), which is why --check runs the two builds'
# archives side by side.
build_archives() {
	build_setup "$1" "$3"
	local out=$2
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
	gz "$src/packaging/wgplex.8" "$stage/wgplex.8.gz"
	# Shell completions, from the binary itself: this host's, so the host
	# must be among the targets.
	target_name "$hostos/$hostarch"
	if [[ ! -x $stage/$name/wgplex ]]; then
		echo "dist: the shell completions come from the $hostos/$hostarch binary: add $hostos/$hostarch to DIST_TARGETS" >&2
		return 1
	fi
	local sh
	for sh in bash zsh fish; do
		"$stage/$name/wgplex" completion "$sh" >"$stage/completion.$sh"
	done
	local t b
	for t in "${TARGETS[@]}"; do
		target_name "$t"
		local dir=$stage/$name
		# One SBOM per binary, merged into the archive's with the licences
		# the notices find (and check against the allow-list).
		local sboms=() paths=()
		for b in "${bins[@]}"; do
			"${goenv[@]}" "$TOOLS/cyclonedx-gomod" bin -json -std -short-purls -noserial -notimestamp \
				-version "$GO_VERSION" -output "$scratch/$name-$b.cdx.json" "$dir/$b$exe" 2>/dev/null
			sboms+=(-sbom "$scratch/$name-$b.cdx.json")
			paths+=("$dir/$b$exe")
		done
		"$TOOLS/notices" -modcache "$modcache" -text "$dir/THIRD_PARTY_NOTICES.txt" \
			-cyclonedx "$out/$name.cdx.json" "${sboms[@]}" -serial "$(uuid_of "$name")" \
			-timestamp "$timestamp" "${paths[@]}"
		cp "$src/README.md" "$src/LICENSE" "$src/CHANGELOG.md" "$dir/"
		if [[ $goos != windows ]]; then
			cp "$src/packaging/wgplex.8" "$dir/"
			mkdir -p "$dir/completions"
			cp "$stage/completion.bash" "$dir/completions/wgplex.bash"
			cp "$stage/completion.zsh" "$dir/completions/_wgplex"
			cp "$stage/completion.fish" "$dir/completions/wgplex.fish"
		fi
		# Modes are set, not inherited from the umask of whoever builds.
		find "$dir" -type d -exec chmod 0755 {} +
		find "$dir" -type f -exec chmod 0644 {} +
		for b in "${bins[@]}"; do chmod 0755 "$dir/$b$exe"; done
		chmod 0644 "$out/$name.cdx.json"
		if [[ $goos == windows ]]; then
			reproducible_zip "$stage" "$name" "$out/$name.zip"
		else
			reproducible_tar "$stage" "$name" "$out/$name.tar.gz"
		fi
	done
	for t in "${PKG_TARGETS[@]}"; do
		[[ " ${TARGETS[*]} " == *" $t "* ]] && package "$src" "$out" "$stage" "$t"
	done
	(cd "$out" && LC_ALL=C sha256sum -- * >"$scratch/SHA256SUMS" && mv "$scratch/SHA256SUMS" SHA256SUMS)
}

# debian_changelog PACKAGE OUT: a one-entry Debian change log; the
# project's own is CHANGELOG.md (installed as changelog.gz).
debian_changelog() {
	local what="Release $VERSION."
	[[ $VERSION == *~* ]] && what="Snapshot of commit ${COMMIT:0:12}."
	printf '%s (%s-%s) unstable; urgency=medium\n\n  * %s\n    The changes are listed in changelog.gz.\n\n -- %s  %s\n' \
		"$1" "$VERSION" "$PKG_RELEASE" "$what" "$CONTACT" \
		"$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")" >"$2.txt"
	gz "$2.txt" "$2"
	rm "$2.txt"
}

# nfpm_package SRC OUT PKGDIR CONFIG PACKAGER ARCH: run nfpm with the
# licence expression filled in.
nfpm_package() {
	local src=$1 out=$2 pkgdir=$3 config=$4 packager=$5 goarch=$6
	local version=$VERSION
	[[ $packager == apk ]] && version=$APK_VERSION
	# Debian has no License field (the copyright file says it all); an
	# apk's .PKGINFO holds one line per field, so it gets the synopsis.
	case $packager in
	deb) sed '/^license: /d' "$src/$config" ;;
	apk) sed "s|@LICENSE@|$(cat "$pkgdir/licence")|" "$src/$config" |
		awk '/^description: [|]-$/ { getline; sub(/^ +/, ""); print "description: " $0; skip = 1; next }
			skip && /^ / { next } { skip = 0; print }' ;;
	*) sed "s|@LICENSE@|$(cat "$pkgdir/licence")|" "$src/$config" ;;
	esac >"$pkgdir/nfpm.yaml"
	(cd "$src" && WGPLEX_VERSION=$version WGPLEX_RELEASE=$PKG_RELEASE WGPLEX_ARCH=$goarch \
		WGPLEX_STAGE="$pkgdir" WGPLEX_LIBC="${WGPLEX_LIBC:-libc6}" \
		"$TOOLS/nfpm" package --config "$pkgdir/nfpm.yaml" --packager "$packager" --target "$out/" >/dev/null)
}

# package SRC OUT STAGE GOOS/GOARCH: the wgplex packages of one target,
# and wgplex-pkcs11 where its C compiler is installed.
package() {
	local src=$1 out=$2 stage=$3 goos goarch
	IFS=/ read -r goos goarch <<<"$4"
	local dir=$stage/wgplex-$VERSION-$goos-$goarch pkgdir=$stage/pkg-$goarch
	mkdir -p "$pkgdir/plugins"
	cp "$dir/wgplex" "$pkgdir/"
	local p paths=("$pkgdir/wgplex")
	for p in "${PLUGINS[@]}"; do
		cp "$dir/$p" "$pkgdir/plugins/"
		paths+=("$pkgdir/plugins/$p")
	done
	cp "$stage/wgplex.8.gz" "$stage"/completion.* "$pkgdir/"
	"$TOOLS/notices" -modcache "$scratch/modcache" -text "$pkgdir/THIRD_PARTY_NOTICES.txt" \
		-dep5 "$pkgdir/copyright" -spdx "$pkgdir/licence" -licence "$src/LICENSE" \
		-contact "$CONTACT" -source "$SOURCE_URL" "${paths[@]}"
	debian_changelog wgplex "$pkgdir/changelog.Debian.gz"
	gz "$src/CHANGELOG.md" "$pkgdir/changelog.gz"
	chmod 0644 "$pkgdir"/*.gz "$pkgdir/copyright" "$pkgdir"/completion.* "$pkgdir/THIRD_PARTY_NOTICES.txt"
	local packager
	for packager in deb rpm apk; do
		nfpm_package "$src" "$out" "$pkgdir" packaging/nfpm.yaml "$packager" "$goarch"
	done

	local cc=${PKCS11_CC[$goos/$goarch]:-}
	if [[ -z $cc ]] || ! command -v "$cc" >/dev/null; then
		echo "dist: no C compiler ${cc:-for $goos/$goarch}: no wgplex-pkcs11 package for $goos/$goarch" >&2
		return 0
	fi
	local kdir=$stage/pkcs11-$goarch
	mkdir -p "$kdir/plugins"
	mv "$stage/pkcs11-bin-$goarch/keyvault-pkcs11" "$kdir/plugins/"
	chmod 0755 "$kdir/plugins/keyvault-pkcs11"
	# The highest glibc symbol version it uses is the lowest glibc it runs on.
	local glibc
	glibc=$(readelf -W --dyn-syms "$kdir/plugins/keyvault-pkcs11" | grep -o 'GLIBC_[0-9.]*' |
		sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1)
	"$TOOLS/notices" -modcache "$scratch/modcache" -text "$kdir/THIRD_PARTY_NOTICES.txt" \
		-dep5 "$kdir/copyright" -spdx "$kdir/licence" -licence "$src/LICENSE" \
		-contact "$CONTACT" -source "$SOURCE_URL" -name wgplex "$kdir/plugins/keyvault-pkcs11"
	debian_changelog wgplex-pkcs11 "$kdir/changelog.Debian.gz"
	gz "$src/CHANGELOG.md" "$kdir/changelog.gz"
	chmod 0644 "$kdir/copyright" "$kdir/THIRD_PARTY_NOTICES.txt"
	for packager in deb rpm; do
		WGPLEX_LIBC="libc6 (>= $glibc)" nfpm_package "$src" "$out" "$kdir" packaging/nfpm-pkcs11.yaml "$packager" "$goarch"
	done
}

echo "wgplex $VERSION ($COMMIT), SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
export_tree "$work/a/src"
build_binaries "$work/a/src" "$work/a/scratch"
if ((check)); then
	# A second checkout at another path (a longer one, so that any path
	# that leaked into an artifact would change its size). Its binaries
	# are built after the first's, from the build cache the first filled
	# (with -trimpath the cache does not depend on the path; the links
	# are done again); then the two builds' archives, which are mostly one
	# CPU each, are made side by side.
	b=$work/b/another/checkout/path/src
	export_tree "$b"
	build_binaries "$b" "$work/b/scratch"
	(build_archives "$work/a/src" "$work/a/out" "$work/a/scratch" >"$work/a.log" 2>&1) &
	pid_a=$!
	(build_archives "$b" "$work/b/out" "$work/b/scratch" >"$work/b.log" 2>&1) &
	pid_b=$!
	rc_a=0 rc_b=0
	wait "$pid_a" || rc_a=$?
	wait "$pid_b" || rc_b=$?
	cat "$work/a.log"
	if ((rc_a != 0 || rc_b != 0)); then
		echo "dist: the second build's output:" >&2
		cat "$work/b.log" >&2
		echo "dist: building the archives failed (first build: exit $rc_a, second: exit $rc_b)" >&2
		exit 1
	fi
	if ! diff -r "$work/a/out" "$work/b/out" >/dev/null; then
		echo "dist: NOT reproducible; differing files:" >&2
		diff -rq "$work/a/out" "$work/b/out" >&2 || true
		exit 1
	fi
	echo "dist: reproducible: two builds from different paths are byte-identical:"
else
	build_archives "$work/a/src" "$work/a/out" "$work/a/scratch"
fi
rm -rf "$DIST"
mkdir -p "$DIST"
cp "$work/a/out/"* "$DIST/"
(cd "$DIST" && cat SHA256SUMS)
