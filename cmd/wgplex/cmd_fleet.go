// SPDX-License-Identifier: MIT

package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wgplex/wgplex/core/config"
	"github.com/wgplex/wgplex/fleet"
)

// The fleet authority: a CA key pair certifies which WireGuard key may
// announce which prefixes in discovery, and each node signs its own
// records. The CA key stays on the machine that issues certificates; a
// node needs the CA's public file, its certificate and its signing key.

const fleetUsage = `Usage:
  wgplex fleet init-ca [-name NAME] [-key ca.key] [-pub ca.pub]
        make a CA: its private key (mode 0600) and its public file
  wgplex fleet genkey [-key node.sign]
        make a node signing key (mode 0600); prints its public half
  wgplex fleet sign -ca-key ca.key -public-key WG-PUBLIC-KEY
        (-signing-pub BASE64 | -signing-key FILE) -name NAME -prefixes P[,P...]
        [-endpoint-nets N[,N...]] [-not-before RFC3339] [-valid 8760h]
        [-serial N] [-out node.cert]
        issue a node certificate
  wgplex fleet revoke -ca-key ca.key [-list revoked.list] SERIAL...
        add serials to the CA's revocation list (made if missing)
  wgplex fleet show FILE
        print a CA file, certificate, revocation list or record
`

func runFleet(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, fleetUsage)
		return 2
	}
	var err error
	switch args[0] {
	case "init-ca":
		err = fleetInitCA(args[1:], stdout, stderr)
	case "genkey":
		err = fleetGenKey(args[1:], stdout, stderr)
	case "sign":
		err = fleetSign(args[1:], stdout, stderr)
	case "revoke":
		err = fleetRevoke(args[1:], stdout, stderr)
	case "show":
		if len(args) != 2 {
			err = errUsage
		} else {
			err = fleetShow(args[1], stdout)
		}
	case "help", "-h", "--help":
		fmt.Fprint(stdout, fleetUsage)
		return 0
	default:
		err = errUsage
	}
	if errors.Is(err, errUsage) {
		fmt.Fprint(stderr, fleetUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "wgplex fleet %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// errUsage asks for the usage text instead of an error line.
var errUsage = errors.New("usage")

func fleetFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("fleet "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func fleetInitCA(args []string, stdout, stderr io.Writer) error {
	fs := fleetFlags("init-ca", stderr)
	name := fs.String("name", "wgplex-fleet", "the CA's name")
	keyPath := fs.String("key", "ca.key", "where to write the CA private key (mode 0600; never overwritten)")
	pubPath := fs.String("pub", "ca.pub", "where to write the CA public file that nodes trust")
	if fs.Parse(args) != nil || fs.NArg() != 0 {
		return errUsage
	}
	if _, err := os.Lstat(*pubPath); err == nil {
		return fmt.Errorf("%s exists; not overwriting", *pubPath)
	}
	key, err := fleet.GenerateKey()
	if err != nil {
		return err
	}
	ca := &fleet.CA{Name: *name, Key: key.Public().(ed25519.PublicKey)}
	pub, err := ca.Marshal()
	if err != nil {
		return err
	}
	if err := fleet.WritePrivateKeyFile(*keyPath, key); err != nil {
		return err
	}
	clear(key)
	if err := fleet.WriteObjectFile(*pubPath, pub, 0o644, false); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "CA %q, key id %s: private key in %s, public file in %s\n", ca.Name, ca.ID(), *keyPath, *pubPath)
	return nil
}

func fleetGenKey(args []string, stdout, stderr io.Writer) error {
	fs := fleetFlags("genkey", stderr)
	keyPath := fs.String("key", "node.sign", "where to write the signing key (mode 0600; never overwritten)")
	if fs.Parse(args) != nil || fs.NArg() != 0 {
		return errUsage
	}
	key, err := fleet.GenerateKey()
	if err != nil {
		return err
	}
	defer clear(key)
	if err := fleet.WritePrivateKeyFile(*keyPath, key); err != nil {
		return err
	}
	fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)))
	return nil
}

func fleetSign(args []string, stdout, stderr io.Writer) error {
	fs := fleetFlags("sign", stderr)
	caKeyPath := fs.String("ca-key", "", "the CA private key file (required)")
	wgKey := fs.String("public-key", "", "the node's WireGuard public key, base64 (required)")
	signPub := fs.String("signing-pub", "", "the node signing key's public half, base64 (as genkey prints it)")
	signKey := fs.String("signing-key", "", "or: the node signing key file, to take its public half from")
	name := fs.String("name", "", "the node's name (required)")
	prefixes := fs.String("prefixes", "", "prefixes the node may announce, comma-separated (required)")
	epNets := fs.String("endpoint-nets", "", "networks the node's endpoints must be in, comma-separated (default: any)")
	notBefore := fs.String("not-before", "", "start of validity, RFC 3339 (default: now)")
	valid := fs.Duration("valid", 365*24*time.Hour, "validity from not-before")
	serial := fs.Uint64("serial", 0, "serial number (default: random)")
	out := fs.String("out", "", "where to write the certificate (default: NAME.cert)")
	if fs.Parse(args) != nil || fs.NArg() != 0 || *caKeyPath == "" || *wgKey == "" || *name == "" || *prefixes == "" ||
		(*signPub == "") == (*signKey == "") {
		return errUsage
	}
	c := &fleet.Certificate{Name: *name, Serial: *serial}
	k, err := config.ParseKey(*wgKey)
	if err != nil {
		return fmt.Errorf("-public-key: %v", err)
	}
	c.PublicKey = k
	if *signPub != "" {
		b, err := base64.StdEncoding.DecodeString(*signPub)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return errors.New("-signing-pub: not a base64 Ed25519 public key")
		}
		c.SigningKey = b
	} else {
		sk, err := fleet.ReadPrivateKeyFile(*signKey)
		if err != nil {
			return err
		}
		c.SigningKey = sk.Public().(ed25519.PublicKey)
		clear(sk)
	}
	if c.Prefixes, err = parsePrefixList(*prefixes); err != nil {
		return fmt.Errorf("-prefixes: %v", err)
	}
	if c.EndpointNets, err = parsePrefixList(*epNets); err != nil {
		return fmt.Errorf("-endpoint-nets: %v", err)
	}
	c.NotBefore = time.Now().Truncate(time.Second)
	if *notBefore != "" {
		if c.NotBefore, err = time.Parse(time.RFC3339, *notBefore); err != nil {
			return fmt.Errorf("-not-before: %v", err)
		}
	}
	c.NotAfter = c.NotBefore.Add(*valid)
	if c.Serial == 0 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		c.Serial = binary.BigEndian.Uint64(b[:]) >> 1 // stays positive in any tool that reads it signed
	}
	caKey, err := fleet.ReadPrivateKeyFile(*caKeyPath)
	if err != nil {
		return err
	}
	defer clear(caKey)
	raw, err := c.Sign(caKey)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = *name + ".cert"
	}
	if err := fleet.WriteObjectFile(*out, raw, 0o644, false); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "certificate for %q, serial %d, valid until %s: %s\n", c.Name, c.Serial, c.NotAfter.Format(time.RFC3339), *out)
	return nil
}

func fleetRevoke(args []string, stdout, stderr io.Writer) error {
	fs := fleetFlags("revoke", stderr)
	caKeyPath := fs.String("ca-key", "", "the CA private key file (required)")
	listPath := fs.String("list", "revoked.list", "the revocation list to add to (made if missing)")
	if fs.Parse(args) != nil || *caKeyPath == "" || fs.NArg() == 0 {
		return errUsage
	}
	caKey, err := fleet.ReadPrivateKeyFile(*caKeyPath)
	if err != nil {
		return err
	}
	defer clear(caKey)
	ca := &fleet.CA{Key: caKey.Public().(ed25519.PublicKey)}
	l := &fleet.RevocationList{}
	if raw, err := fleet.ReadFile(*listPath); err == nil {
		old, err := fleet.ParseRevocationList(raw)
		if err != nil {
			return err
		}
		if err := old.CheckSignature(ca); err != nil {
			return fmt.Errorf("%s: %v", *listPath, err)
		}
		l.Serials = old.Serials
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, a := range fs.Args() {
		s, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return fmt.Errorf("serial %q: not a number", a)
		}
		l.Serials = append(l.Serials, s)
	}
	l.Issued = time.Now()
	raw, err := l.Sign(caKey)
	if err != nil {
		return err
	}
	if err := fleet.WriteObjectFile(*listPath, raw, 0o644, true); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d revoked serials\n", *listPath, len(l.Serials))
	return nil
}

// fleetShow prints any fleet object, whatever its kind.
func fleetShow(path string, w io.Writer) error {
	raw, err := fleet.ReadFile(path)
	if err != nil {
		return err
	}
	if len(raw) < 4 {
		return errors.New("not a fleet object")
	}
	switch string(raw[:4]) {
	case fleet.MagicCA:
		ca, err := fleet.ParseCA(raw)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "CA public key\n  name:   %s\n  key id: %s\n  key:    %s\n", ca.Name, ca.ID(), base64.StdEncoding.EncodeToString(ca.Key))
	case fleet.MagicCert:
		c, err := fleet.ParseCertificate(raw)
		if err != nil {
			return err
		}
		showCert(w, c, "")
	case fleet.MagicRevocation:
		l, err := fleet.ParseRevocationList(raw)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Revocation list\n  issuer: %s\n  issued: %s\n  serials (%d):", l.Issuer, l.Issued.Format(time.RFC3339), len(l.Serials))
		for _, s := range l.Serials {
			fmt.Fprintf(w, " %d", s)
		}
		fmt.Fprintln(w)
	case fleet.MagicRecord:
		r, err := fleet.ParseRecord(raw)
		if err != nil {
			return err
		}
		eps := make([]string, len(r.Endpoints))
		for i, e := range r.Endpoints {
			eps[i] = e.String()
		}
		fmt.Fprintf(w, "Signed node record (%d bytes, signature not checked here)\n  public key: %s\n  sequence:   %d\n  signed at:  %s\n  endpoints:  %s\n  prefixes:   %s\n  keepalive:  %d\n  psk ref:    %s\n",
			len(raw), config.FormatKey(r.PublicKey), r.Sequence, r.Timestamp.Format(time.RFC3339Nano),
			strings.Join(eps, ", "), joinPrefixes(r.Prefixes), r.PersistentKeepalive, r.PSKRef)
		showCert(w, r.Cert, "  ")
	default:
		return fmt.Errorf("unknown object (magic %q)", raw[:4])
	}
	return nil
}

func showCert(w io.Writer, c *fleet.Certificate, indent string) {
	nets := joinPrefixes(c.EndpointNets)
	if nets == "" {
		nets = "any"
	}
	fmt.Fprintf(w, "%sNode certificate\n%s  name:          %s\n%s  serial:        %d\n%s  issuer:        %s\n%s  public key:    %s\n%s  signing key:   %s\n%s  valid:         %s to %s\n%s  prefixes:      %s\n%s  endpoint nets: %s\n",
		indent, indent, c.Name, indent, c.Serial, indent, c.Issuer, indent, config.FormatKey(c.PublicKey),
		indent, base64.StdEncoding.EncodeToString(c.SigningKey), indent, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339),
		indent, joinPrefixes(c.Prefixes), indent, nets)
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// parsePrefixList reads comma-separated prefixes; a bare address is a
// host prefix.
func parsePrefixList(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range discoverySplitList(s) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a prefix or address", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}
