// SPDX-License-Identifier: MIT

//go:build cgo

// Command keyvault-pkcs11 is a wgplex key vault plugin that keeps the
// static Curve25519 key inside a PKCS#11 token (an HSM, a smart card,
// SoftHSM) and has the token compute every X25519: the private key is
// created in the token, marked sensitive and non-extractable, and never
// leaves it.
//
// Usage (the daemon launches it; it is not run by hand):
//
//	wgplex vault-genkey --plugin "keyvault-pkcs11 -module /usr/lib/softhsm/libsofthsm2.so -token wg -pin-file /etc/wgplex/pin"
//	wgplex --keyvault "keyvault-pkcs11 -module ... -token wg -pin-file ..." wg0
//
// Tokens differ in how they name Curve25519: PKCS#11 3.0 tokens use
// CKK_EC_MONTGOMERY keys, SoftHSM2 (2.6) keeps them as CKK_EC_EDWARDS with
// the curve25519 parameters. Both are accepted; the derivation is
// CKM_ECDH1_DERIVE with CKD_NULL in either case.
//
// The PIN comes from -pin-file (a file only the plugin's user reads) or
// the environment variable WGPLEX_PKCS11_PIN; never from the command line,
// which every user of the machine can read in /proc.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/wgplex/wgplex/plugins/sdk"
)

func main() {
	var o options
	flag.StringVar(&o.module, "module", os.Getenv("WGPLEX_PKCS11_MODULE"), "`path` of the PKCS#11 module (default $WGPLEX_PKCS11_MODULE)")
	flag.StringVar(&o.token, "token", "", "`label` of the token to use (default: the first token present)")
	flag.StringVar(&o.label, "label", "wgplex", "CKA_LABEL of the key pair")
	pinFile := flag.String("pin-file", "", "`file` holding the user PIN (default: $WGPLEX_PKCS11_PIN)")
	flag.IntVar(&o.sessions, "sessions", 4, "number of token sessions, i.e. X25519 operations in parallel")
	flag.Parse()
	if o.module == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: keyvault-pkcs11 -module PATH [-token LABEL] [-label KEY] [-pin-file FILE]")
		os.Exit(2)
	}
	o.pin = os.Getenv("WGPLEX_PKCS11_PIN")
	if *pinFile != "" {
		b, err := os.ReadFile(*pinFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "keyvault-pkcs11: %v\n", err)
			os.Exit(1)
		}
		o.pin = strings.TrimRight(string(b), "\r\n")
	}
	v, err := openToken(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "keyvault-pkcs11: %v\n", err)
		os.Exit(1)
	}
	defer v.close()
	sdk.ServeKeyVault(v)
}
