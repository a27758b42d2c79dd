#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerates the Go code of every plugin service from its .proto file.
# The generated files are committed, so building wgplex never needs protoc;
# run this only after changing a .proto file.
#
# Needs protoc (Debian: apt-get install protobuf-compiler). The Go
# generators are the versions pinned in the release tooling module
# (tools/go.mod), so everybody regenerates byte-identical code and the
# generators stay out of the module graph of wgplex itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
(cd ../../tools && go build -o "$bindir/" google.golang.org/protobuf/cmd/protoc-gen-go \
	google.golang.org/grpc/cmd/protoc-gen-go-grpc)

for proto in */v*/*.proto; do
	PATH="$bindir:$PATH" protoc \
		--proto_path=. \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		"$proto"
done

# protoc knows nothing of the project's licence header; put it back on
# top of every generated file (the generators' "Code generated" line
# still precedes the package clause, as Go requires).
for f in */v*/*.pb.go; do
	grep -q '^// SPDX-License-Identifier:' "$f" && continue
	{ printf '// SPDX-License-Identifier: MIT\n\n'; cat "$f"; } >"$f.tmp"
	mv "$f.tmp" "$f"
done
