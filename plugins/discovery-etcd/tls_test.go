// SPDX-License-Identifier: MIT

// These tests start an etcd server as a child that dies with the test
// (Pdeathsig), which only Linux offers.

//go:build linux

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wgplex/wgplex/plugins/discovery-etcd/etcdrecord"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// requireEtcd is the etcd server binary; without one the test is skipped,
// or fails under CI, where scripts/test.sh installs it.
func requireEtcd(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("etcd")
	if err == nil {
		return p
	}
	msg := "etcd missing (apt-get install etcd-server; scripts/test.sh installs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// testPKI is a throwaway CA with a server and a client certificate.
type testPKI struct {
	dir                                              string
	ca, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wgplex test etcd CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p.ca = p.write(t, "ca.pem", "CERTIFICATE", caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalPKCS8PrivateKey(k)
		return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "PRIVATE KEY", kd)
	}
	p.serverCert, p.serverKey = issue("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue("wgplex", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// lockedBuffer collects etcd's output for the failure log.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startTLSEtcd runs etcd on loopback with TLS and client certificates
// required, and turns on authentication with a root user and a user
// "wgplex" that may write only under prefix. It returns the client URL.
func startTLSEtcd(t *testing.T, pki *testPKI, prefix, password string) string {
	t.Helper()
	bin := requireEtcd(t)
	client := fmt.Sprintf("https://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	name := fmt.Sprintf("wgpx-tls-%d", os.Getpid())
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "--name", name, "--data-dir", filepath.Join(t.TempDir(), "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", name+"="+peer, "--initial-cluster-token", name,
		"--cert-file", pki.serverCert, "--key-file", pki.serverKey,
		"--trusted-ca-file", pki.ca, "--client-cert-auth", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("etcd output:\n%s", out)
		}
	})
	// Set up users as root over the client certificate.
	cfg, err := clientConfig(client, 2*time.Second, pki.ca, pki.clientCert, pki.clientKey, "", "")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "health")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd with TLS does not answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval while etcd starts
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	steps := []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "root-"+password); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "mesh"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "mesh", prefix, clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, "wgplex", password); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "wgplex", "mesh"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("etcd auth set-up step %d: %v", i, err)
		}
	}
	return client
}

// TestRegistryOverTLSWithAuth: the plugin's client configuration reaches
// an etcd that requires a client certificate and a password, registers,
// sees others, and puts its own record back when someone overwrites it.
// Without the certificate or with a wrong password it gets nowhere.
func TestRegistryOverTLSWithAuth(t *testing.T) {
	pki := newTestPKI(t)
	const prefix = "/wgpx-tls/"
	url := startTLSEtcd(t, pki, prefix, "s3cret")

	// Wrong password, and no client certificate: refused.
	bad, err := clientConfig(url, 2*time.Second, pki.ca, pki.clientCert, pki.clientKey, "wgplex", "wrong")
	if err != nil {
		t.Fatal(err)
	}
	if cli, err := clientv3.New(bad); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = cli.Put(ctx, prefix+"x", "y")
		cancel()
		cli.Close()
		if err == nil {
			t.Fatal("a wrong password was accepted")
		}
	}
	noCert, _ := clientConfig(url, time.Second, pki.ca, "", "", "wgplex", "s3cret")
	if cli, err := clientv3.New(noCert); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err = cli.Get(ctx, prefix)
		cancel()
		cli.Close()
		if err == nil {
			t.Fatal("a client without a certificate was served")
		}
	}

	cfg, err := clientConfig(url, 2*time.Second, pki.ca, pki.clientCert, pki.clientKey, "wgplex", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	reg := newRegistry(cli, prefix, 5*time.Second, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := reg.start(ctx)
	defer func() { cancel(); <-done }()
	var selfKey sdk.Key
	selfKey[0], selfKey[31] = 7, 1
	self := sdk.Record{PublicKey: selfKey, Name: "host-7", Endpoints: []string{"192.0.2.7:51820"}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.7/32")}, PSKRef: "fleet"}
	if err := reg.Publish(ctx, self); err != nil {
		t.Fatal(err)
	}
	own := etcdrecord.Name(prefix, self.PublicKey)
	want, _ := etcdrecord.Encode(&self)
	waitValue := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			resp, err := cli.Get(rctx, own)
			rcancel()
			v := ""
			if err == nil && len(resp.Kvs) == 1 {
				v = string(resp.Kvs[0].Value)
			}
			if ok(v) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: value %q, err %v", what, v, err)
			}
			time.Sleep(50 * time.Millisecond) // poll interval
		}
	}
	waitValue("registered over TLS with a password", func(v string) bool { return v == string(want) })

	// Someone with write access overwrites the record: put back.
	forged := self.Clone()
	forged.Endpoints = []string{"203.0.113.66:51820"}
	fv, _ := etcdrecord.Encode(&forged)
	if _, err := cli.Put(ctx, own, string(fv)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitValue("own record restored", func(v string) bool { return v == string(want) })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("own record restored after %v, want within 2 s", d)
	}
	// And deleted: put back.
	if _, err := cli.Delete(ctx, own); err != nil {
		t.Fatal(err)
	}
	waitValue("own record restored after a deletion", func(v string) bool { return v == string(want) })

	// Another node's record reaches the set.
	var k sdk.Key
	k[0], k[31] = 9, 1
	other := sdk.Record{PublicKey: k, Endpoints: []string{"192.0.2.9:1"}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.9/32")}}
	ov, _ := etcdrecord.Encode(&other)
	if _, err := cli.Put(ctx, etcdrecord.Name(prefix, k), string(ov)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, ok := reg.set.Get(k); ok && r.Equal(&other) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("another node's record not seen")
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}
