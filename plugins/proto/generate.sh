#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerates the Go code of every plugin service from its .proto file.
# The generated files are committed, so building wgplex never needs protoc;
# run this only after changing a .proto file.
#
# Needs protoc (Debian: apt-get install protobuf-compiler). The Go
# generators are the versions pinned as tools in go.mod, run through
# `go tool`, so everybody regenerates byte-identical code.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
go build -o "$bindir/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$bindir/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc

for proto in */v*/*.proto; do
	PATH="$bindir:$PATH" protoc \
		--proto_path=. \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		"$proto"
done
