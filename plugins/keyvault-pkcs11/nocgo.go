// SPDX-License-Identifier: MIT

//go:build !cgo

// Command keyvault-pkcs11 needs cgo to load a PKCS#11 module. The release
// archives are built without cgo and do not contain this plugin; it ships
// in the wgplex-pkcs11 package (linux amd64 and arm64, built with cgo by
// scripts/dist.sh). A build without cgo gets this stand-in, which says so
// instead of failing to compile.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "keyvault-pkcs11: built without cgo; rebuild with CGO_ENABLED=1 and a C compiler to use PKCS#11 tokens")
	os.Exit(1)
}
