// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// etcdTLS are the files of a throwaway PKI for etcd: a CA, the server's
// certificate for its address, and a client certificate.
type etcdTLS struct {
	ca, serverCert, serverKey, clientCert, clientKey string
	rootPassword                                     string
}

func newEtcdTLS(t *testing.T, addr string) *etcdTLS {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wgplex test etcd CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(2 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	c := &etcdTLS{ca: write("ca.pem", "CERTIFICATE", caDER), rootPassword: "root-" + uniqueID()}
	issue := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(2 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP(addr)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalPKCS8PrivateKey(k)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "PRIVATE KEY", kd)
	}
	c.serverCert, c.serverKey = issue("server", 2, x509.ExtKeyUsageServerAuth)
	c.clientCert, c.clientKey = issue("client", 3, x509.ExtKeyUsageClientAuth)
	return c
}

// serverArgs make etcd serve clients over TLS and require a client
// certificate signed by the CA.
func (c *etcdTLS) serverArgs() []string {
	return []string{"--cert-file", c.serverCert, "--key-file", c.serverKey, "--trusted-ca-file", c.ca, "--client-cert-auth"}
}

// ctl is the etcdctl command line for e as user ("name:password"; empty
// for none).
func (c *etcdTLS) ctl(e *etcdServer, user string) []string {
	argv := []string{"env", "ETCDCTL_API=3", "etcdctl", "--endpoints", e.clientURL(), "--dial-timeout", "3s",
		"--cacert", c.ca, "--cert", c.clientCert, "--key", c.clientKey}
	if user != "" {
		argv = append(argv, "--user", user)
	}
	return argv
}

// clientURL is where etcd serves clients.
func (e *etcdServer) clientURL() string {
	if e.tls != nil {
		return fmt.Sprintf("https://%s:2379", e.addr)
	}
	return fmt.Sprintf("http://%s:2379", e.addr)
}

// ctl is etcdctl against e, as root once authentication is on.
func (e *etcdServer) ctl(args ...string) []string {
	if e.tls != nil {
		return append(e.tls.ctl(e, "root:"+e.tls.rootPassword), args...)
	}
	return append([]string{"env", "ETCDCTL_API=3", "etcdctl", "--endpoints", e.clientURL(), "--dial-timeout", "3s"}, args...)
}

// requireEtcdctl skips the test (fails it under CI) without etcdctl.
func requireEtcdctl(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("etcdctl"); err == nil {
		return
	}
	msg := "etcdctl missing (apt-get install etcd-client; scripts/test.sh installs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// startTLSEtcd runs etcd with TLS and client certificates in ns, and turns
// on authentication: a root user for the test, and a user "wgplex" with
// password that may read and write only under prefix.
func startTLSEtcd(t *testing.T, ns *Netns, bin, addr, prefix, password string) *etcdServer {
	t.Helper()
	e := &etcdServer{ns: ns, bin: bin, addr: addr, data: etcdDataDir(t), name: "wgpx-" + uniqueID(), tls: newEtcdTLS(t, addr)}
	e.start(t)
	t.Cleanup(func() {
		e.stop(t)
		if t.Failed() {
			t.Logf("etcd output:\n%s", e.out)
		}
	})
	ctl := e.tls.ctl(e, "")
	for _, step := range [][]string{
		{"user", "add", "root:" + e.tls.rootPassword},
		{"user", "grant-role", "root", "root"},
		{"role", "add", "mesh"},
		{"role", "grant-permission", "mesh", "--prefix=true", "readwrite", prefix},
		{"user", "add", "wgplex:" + password},
		{"user", "grant-role", "wgplex", "mesh"},
		{"auth", "enable"},
	} {
		ns.MustRun(append(append([]string(nil), ctl...), step...)...)
	}
	// Without a password, the client certificate's name (a user that does
	// not exist) gets nothing.
	if out, err := ns.Run(append(append([]string(nil), ctl...), "put", prefix+"probe", "x")...); err == nil {
		t.Fatalf("etcd took a write without credentials: %s", out)
	}
	return e
}

// etcdWriter writes into an etcd registry with etcdctl as root, in the
// plugin's format.
type etcdWriter struct {
	e      *etcdServer
	prefix string
}

func (w etcdWriter) key(t *testing.T, pub string) string {
	b, err := base64.StdEncoding.DecodeString(pub)
	if err != nil {
		t.Fatal(err)
	}
	return w.prefix + base64.RawURLEncoding.EncodeToString(b)
}

func (w etcdWriter) put(t *testing.T, pub, allowed, endpoint string, signed []byte) {
	t.Helper()
	v := map[string]any{"public_key": pub, "name": "attacker", "endpoints": []string{endpoint}}
	var ips []string
	for _, a := range strings.Split(allowed, ",") {
		ips = append(ips, strings.TrimSpace(a))
	}
	v["allowed_ips"] = ips
	if signed != nil {
		v["signed"] = signed
	}
	val, _ := json.Marshal(v)
	w.e.ns.MustRun(w.e.ctl("put", w.key(t, pub), string(val))...)
}

func (w etcdWriter) del(t *testing.T, pub string) {
	w.e.ns.MustRun(w.e.ctl("del", w.key(t, pub))...)
}

func (w etcdWriter) get(t *testing.T, pub string) string {
	out, err := w.e.ns.Run(w.e.ctl("get", w.key(t, pub), "--print-value-only")...)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// TestDiscoveryFleetEtcd is runFleet over a real etcd with TLS, client
// certificates and authentication on.
func TestDiscoveryFleetEtcd(t *testing.T) {
	impl := implUnderTest(t)
	if impl.Name != "wgplex" {
		t.Skip("peer discovery is a wgplex feature")
	}
	etcdBin := requireEtcd(t)
	requireEtcdctl(t)
	plugin := buildDiscoveryEtcd(t)
	l := newMeshLab(t, impl, 13)
	addr := fmt.Sprintf("10.213.%d.254", l.subnet)
	prefix := "/wgpx-" + uniqueID() + "/"
	password := "mesh-" + uniqueID()
	e := startTLSEtcd(t, l.attach(254), etcdBin, addr, prefix, password)
	cmdline := fmt.Sprintf("%s -endpoints %s -prefix %s -ttl %s -cacert %s -cert %s -key %s",
		plugin, e.clientURL(), prefix, meshLeaseTTL, e.tls.ca, e.tls.clientCert, e.tls.clientKey)
	l.be = meshBackend{name: "etcd+tls+auth+ca", etcd: e, args: []string{"--discovery", cmdline},
		env: []string{"WGPLEX_ETCD_USERNAME=wgplex", "WGPLEX_ETCD_PASSWORD=" + password}}
	runFleet(t, l, etcdWriter{e, prefix})
}

// TestDiscoveryUntrustedEtcd: without a CA, a client that can write the
// prefix overwrites node 1's record (without a lease) and adds a record
// of its own claiming node 1's address. Node 1 puts its record back within
// 2 s, the other record is refused by every node, and a while later the
// mesh is as it was.
func TestDiscoveryUntrustedEtcd(t *testing.T) {
	impl := implUnderTest(t)
	if impl.Name != "wgplex" {
		t.Skip("peer discovery is a wgplex feature")
	}
	etcdBin := requireEtcd(t)
	requireEtcdctl(t)
	plugin := buildDiscoveryEtcd(t)
	l := newMeshLab(t, impl, 14)
	l.be = etcdBackend(t, l, etcdBin, plugin)
	l.be.args = append(l.be.args, "--metrics-listen", "127.0.0.1:9586")
	for h := 1; h <= 3; h++ {
		l.startNode(h)
	}
	start := time.Now()
	for _, n := range l.nodes {
		l.join(n)
	}
	l.waitMesh(start, 30*time.Second, "a full mesh of 3 nodes")
	reg := etcdWriter{l.be.etcd, l.be.prefix}
	victim := l.nodes[0]
	orig := reg.get(t, victim.key.Public)
	if orig == "" {
		t.Fatal("node 1 has no record")
	}
	before := counts(t, l.others(victim), "overlap")
	reg.put(t, victim.key.Public, fmt.Sprintf("10.214.%d.77/32", l.subnet), fmt.Sprintf("10.213.%d.77:51820", l.subnet), nil)
	thief := GenKey(t)
	reg.put(t, thief.Public, victim.tunnelAddr(l)+"/32", fmt.Sprintf("10.213.%d.50:51820", l.subnet), nil)
	start = time.Now()
	Eventually(t, 2*time.Second, "node 1 to restore its record", func() (bool, string) {
		v := reg.get(t, victim.key.Public)
		return v == orig, v
	})
	t.Logf("node 1 restored its record after %v", time.Since(start).Round(time.Millisecond))
	waitRefused(t, l.others(victim), "overlap", before)
	l.waitMesh(time.Now(), 5*time.Second, "the mesh as it was")
	for _, n := range l.nodes {
		peers, err := peersOf(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := peers[thief.Public]; ok {
			t.Errorf("node %d made the thief a peer: %v", n.host, peers)
		}
	}
	if failed := l.pingAll(l.nodes, l.nodes, time.Now().Add(10*time.Second)); len(failed) > 0 {
		t.Fatalf("no ping replies after the attack between %v", failed)
	}
}
