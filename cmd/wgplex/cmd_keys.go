// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/wgplex/wgplex/core/config"
	"github.com/wgplex/wgplex/core/noise"
)

// The key commands of wg(8): genkey and genpsk print a fresh key, pubkey
// turns a private key on stdin into its public key. Output is one base64
// key and a newline, exactly as wg writes it, so the two are interchangeable
// in scripts ("wgplex genkey | tee k | wg pubkey").

// genKeyCommand returns genkey or genpsk: a clamped private key or 32
// random bytes.
func genKeyCommand(name string) func([]string, io.Reader, io.Writer, io.Writer) int {
	return func(args []string, _ io.Reader, stdout, stderr io.Writer) int {
		return runGenKey(name, args, stdout, stderr)
	}
}

// runGenKey prints a new key. Like wg, it warns when stdout is a regular
// file that others may read; the key is written anyway, since the file
// already exists and the caller chose it (umask 077 before the redirection
// is the fix, as the warning says).
func runGenKey(name string, args []string, stdout, stderr io.Writer) int {
	if len(args) != 0 {
		fmt.Fprintf(stderr, "Usage: %s %s\n", progName, name)
		return 1
	}
	if worldAccessible(stdout) {
		fmt.Fprint(stderr, "Warning: writing to world accessible file.\nConsider setting the umask to 077 and trying again.\n")
	}
	var key [config.KeyLen]byte
	if name == "genkey" {
		k, err := noise.GeneratePrivateKey()
		if err != nil {
			fmt.Fprintf(stderr, "getrandom: %v\n", err)
			return 1
		}
		key = k
		clear(k[:])
	} else {
		k, err := noise.GeneratePresharedKey()
		if err != nil {
			fmt.Fprintf(stderr, "getrandom: %v\n", err)
			return 1
		}
		key = k
		clear(k[:])
	}
	defer clear(key[:])
	return writeKey(stdout, stderr, key)
}

// worldAccessible reports whether w is a regular file with any permission
// bit for others set.
func worldAccessible(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o007 != 0
}

func writeKey(stdout, stderr io.Writer, key [config.KeyLen]byte) int {
	b := []byte(config.FormatKey(key) + "\n")
	defer clear(b)
	if _, err := stdout.Write(b); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", progName, err)
		return 1
	}
	return 0
}

// runPubKey reads a base64 private key from stdin, followed by nothing but
// white space (or NUL bytes, as wg tolerates), and prints its public key.
func runPubKey(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 0 {
		fmt.Fprintf(stderr, "Usage: %s pubkey\n", progName)
		return 1
	}
	var buf [44]byte
	defer clear(buf[:])
	r := bufio.NewReader(stdin)
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		fmt.Fprintf(stderr, "%s: Key is not the correct length or format\n", progName)
		return 1
	}
	for {
		c, err := r.ReadByte()
		if err != nil {
			break
		}
		if c == 0 || c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' {
			continue
		}
		fmt.Fprintf(stderr, "%s: Trailing characters found after key\n", progName)
		return 1
	}
	k, err := config.ParseKey(string(buf[:]))
	if err != nil {
		fmt.Fprintf(stderr, "%s: Key is not the correct length or format\n", progName)
		return 1
	}
	pub := noise.PrivateKey(k).PublicKey()
	clear(k[:])
	return writeKey(stdout, stderr, pub)
}
