#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the release archives, the Debian package and their SHA-256 sums
# into dist/, reproducibly: the same commit gives byte-identical files
# whoever builds it, wherever the tree is checked out.
#
#   scripts/dist.sh            build dist/ from the committed tree (HEAD)
#   scripts/dist.sh --check    build twice from two checkouts at different
#                              paths and fail unless every file is identical
#                              (writes nothing to dist/)
#
# Environment: VERSION (default: the version in cmd/wgplex/main.go plus the
# commit), SOURCE_DATE_EPOCH (default: the commit's time), DIST (default:
# dist). Binaries are static (CGO_ENABLED=0), built with -trimpath, without
# VCS stamping and with an empty build id; archives have sorted entries,
# fixed owners and times, and gzip without a name or time stamp.
set -Eeuo pipefail
trap 'echo "dist: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

# GOOS/GOARCH[/GOARM] of every release target.
TARGETS=(
	linux/amd64 linux/arm64 linux/arm/7 linux/riscv64
	freebsd/amd64 freebsd/arm64 openbsd/amd64 netbsd/amd64
	darwin/amd64 darwin/arm64
	windows/amd64 windows/arm64
)
# The Debian package is built for this target.
DEB_TARGET=linux/amd64

COMMIT=$(git rev-parse HEAD)
base=$(sed -n 's/^var version = "\(.*\)"$/\1/p' cmd/wgplex/main.go)
VERSION=${VERSION:-${base%-dev}+git.$(git rev-parse --short=12 HEAD)}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}
DIST=${DIST:-dist}
NFPM_CONFIG=packaging/nfpm.yaml

work=$(mktemp -d "${TMPDIR:-/tmp}/wgplex-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The release tools (nfpm, ...) are pinned in their own module, tools/,
# so that they stay out of the module graph of wgplex itself.
TOOLS=$work/tools
(cd tools && GOFLAGS=-mod=readonly go build -trimpath -o "$TOOLS/" github.com/goreleaser/nfpm/v2/cmd/nfpm)

# export SRC: the committed tree, without the .git directory, so that
# neither uncommitted files nor VCS state reach the build.
export_tree() {
	mkdir -p "$1"
	git -C "$ROOT" archive --format=tar "$COMMIT" | tar -x -C "$1"
}

# reproducible_tar DIR NAME OUT: a gzipped tar of DIR/NAME.
reproducible_tar() {
	tar -C "$1" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
		--format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
		-cf - "$2" | gzip -n -9 >"$3"
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

# build SRC OUT: every archive and the .deb from the tree SRC into OUT.
build() {
	local src=$1 out=$2
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
	local stage=$src/.stage
	mkdir -p "$stage"
	gzip -n -9 -c "$src/packaging/wgplex.8" >"$stage/wgplex.8.gz"
	touch -d "@$SOURCE_DATE_EPOCH" "$stage/wgplex.8.gz"
	for t in "${TARGETS[@]}"; do
		IFS=/ read -r goos goarch goarm <<<"$t"
		local suffix=$goarch${goarm:+v$goarm} exe=wgplex
		[[ $goos == windows ]] && exe=wgplex.exe
		local name=wgplex-$VERSION-$goos-$suffix
		local dir=$stage/$name
		mkdir -p "$dir"
		(cd "$src" && GOOS=$goos GOARCH=$goarch GOARM=$goarm CGO_ENABLED=0 GOFLAGS=-mod=readonly \
			go build -trimpath -buildvcs=false \
			-ldflags "-s -w -buildid= -X main.version=$VERSION" \
			-o "$dir/$exe" ./cmd/wgplex)
		cp "$src/README.md" "$dir/"
		[[ $goos == windows ]] || cp "$src/packaging/wgplex.8" "$dir/"
		# Modes are set, not inherited from the umask of whoever builds.
		chmod 0755 "$dir" "$dir/$exe"
		find "$dir" -type f ! -name "$exe" -exec chmod 0644 {} +
		if [[ $goos == windows ]]; then
			reproducible_zip "$stage" "$name" "$out/$name.zip"
		else
			reproducible_tar "$stage" "$name" "$out/$name.tar.gz"
		fi
		if [[ $t == "$DEB_TARGET" ]]; then
			(cd "$src" && WGPLEX_VERSION=$VERSION WGPLEX_ARCH=$goarch \
				WGPLEX_BIN="$dir/$exe" WGPLEX_MAN="$stage/wgplex.8.gz" \
				"$TOOLS/nfpm" package --config "$NFPM_CONFIG" --packager deb --target "$out/" >/dev/null)
		fi
	done
	(cd "$out" && LC_ALL=C sha256sum -- *.tar.gz *.zip *.deb >SHA256SUMS)
}

echo "wgplex $VERSION ($COMMIT), SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
export_tree "$work/a/src"
build "$work/a/src" "$work/a/out"
if ((check)); then
	# A second checkout at another path (a longer one, so that any path
	# that leaked into an artifact would change its size).
	export_tree "$work/b/another/checkout/path/src"
	build "$work/b/another/checkout/path/src" "$work/b/out"
	if ! diff -r "$work/a/out" "$work/b/out" >/dev/null; then
		echo "dist: NOT reproducible; differing files:" >&2
		diff -rq "$work/a/out" "$work/b/out" >&2 || true
		exit 1
	fi
	echo "dist: reproducible: two builds from different paths are byte-identical:"
	(cd "$work/a/out" && cat SHA256SUMS)
	exit 0
fi
rm -rf "$DIST"
mkdir -p "$DIST"
cp "$work/a/out/"* "$DIST/"
(cd "$DIST" && cat SHA256SUMS)
