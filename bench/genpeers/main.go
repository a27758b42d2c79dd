// SPDX-License-Identifier: MIT

// Command genpeers writes a wg(8) configuration file with one interface key
// and N peers, each with a fresh X25519 public key and one /32 allowed IP,
// for the many-peer sections of bench/run.sh. Keys are generated on every
// core, so 100,000 peers take a second or two rather than a minute of
// `wg genkey | wg pubkey`.
//
//	go run ./bench/genpeers -n 100000 -o /tmp/peers.conf
package main

import (
	"bufio"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
)

func main() {
	n := flag.Int("n", 100000, "number of peers (at most 2^24, the size of 10.0.0.0/8)")
	out := flag.String("o", "-", "output file, - for standard output")
	port := flag.Int("port", 51820, "ListenPort of the interface")
	flag.Parse()
	if err := run(*n, *out, *port); err != nil {
		fmt.Fprintln(os.Stderr, "genpeers:", err)
		os.Exit(1)
	}
}

func run(n int, out string, port int) error {
	if n < 0 || n > 1<<24 {
		return fmt.Errorf("-n %d out of range", n)
	}
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	keys := make([][32]byte, n)
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				k, err := ecdh.X25519().GenerateKey(rand.Reader)
				if err != nil {
					errs[w] = err
					return
				}
				copy(keys[i][:], k.PublicKey().Bytes())
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}

	f := os.Stdout
	if out != "-" {
		if f, err = os.Create(out); err != nil {
			return err
		}
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "[Interface]\nPrivateKey = %s\nListenPort = %d\n", base64.StdEncoding.EncodeToString(priv.Bytes()), port)
	for i, k := range keys {
		// Peer i owns 10.a.b.c/32 with abc = i+1 in base 256, so no two
		// peers share a prefix and the allowed-IPs table holds n entries.
		a := i + 1
		fmt.Fprintf(w, "\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.%d.%d.%d/32\n",
			base64.StdEncoding.EncodeToString(k[:]), a>>16&255, a>>8&255, a&255)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if f != os.Stdout {
		return f.Close()
	}
	return nil
}
