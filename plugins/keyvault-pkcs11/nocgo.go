// SPDX-License-Identifier: MIT

//go:build !cgo

// Command keyvault-pkcs11 needs cgo to load a PKCS#11 module; a build
// without cgo (the cross-compiled release archives) gets this stand-in,
// which says so instead of failing to compile.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "keyvault-pkcs11: built without cgo; rebuild with CGO_ENABLED=1 and a C compiler to use PKCS#11 tokens")
	os.Exit(1)
}
