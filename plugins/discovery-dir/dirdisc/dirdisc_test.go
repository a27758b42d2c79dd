// SPDX-License-Identifier: MIT

package dirdisc

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core/config"
	"github.com/wgplex/wgplex/plugins/sdk"
)

func testKey(first byte) sdk.Key {
	var k sdk.Key
	k[0], k[31] = first, 1
	return k
}

func TestParseRecordFile(t *testing.T) {
	k := testKey(1)
	text := "# a peer\n[Peer]\n#wgplex: Name = host-1\nPublicKey = " + config.FormatKey(k) +
		"\nAllowedIPs = 10.0.0.1/32, fd00::1/128\nEndpoint = 192.0.2.1:51820\nPersistentKeepalive = 25\n" +
		"#wgplex: Endpoints = [2001:db8::1]:51820, 192.0.2.1:51820\n# wgplex: PresharedKeyRef = fleet\n" +
		"#wgplex: Signed = V0dGUgFhYmM=\n"
	r, err := ParseRecordFile("x.conf", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Record{
		PublicKey: k, Name: "host-1",
		Endpoints:           []string{"192.0.2.1:51820", "[2001:db8::1]:51820"},
		AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("fd00::1/128")},
		PersistentKeepalive: 25,
		Signed:              []byte("WGFR\x01abc"),
	}
	// "# wgplex:" (with a blank) is an ordinary comment, not a directive.
	if !r.Equal(&want) {
		t.Fatalf("parsed %+v\nwant   %+v", r, want)
	}
	out, err := FormatRecordFile(&r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseRecordFile("x.conf", out)
	if err != nil || !back.Equal(&r) {
		t.Fatalf("round trip: %v\n%+v\n%s", err, back, out)
	}

	for name, text := range map[string]string{
		"interface":   "[Interface]\nListenPort = 1\n[Peer]\nPublicKey = " + config.FormatKey(k) + "\n",
		"two peers":   "[Peer]\nPublicKey = " + config.FormatKey(k) + "\n[Peer]\nPublicKey = " + config.FormatKey(testKey(2)) + "\n",
		"no peer":     "# nothing\n",
		"psk":         "[Peer]\nPublicKey = " + config.FormatKey(k) + "\nPresharedKey = " + config.FormatKey(testKey(3)) + "\n",
		"directive":   "[Peer]\nPublicKey = " + config.FormatKey(k) + "\n#wgplex: Color = red\n",
		"bad signed":  "[Peer]\nPublicKey = " + config.FormatKey(k) + "\n#wgplex: Signed = !!\n",
		"bad psk ref": "[Peer]\nPublicKey = " + config.FormatKey(k) + "\n#wgplex: PresharedKeyRef = ../x\n",
	} {
		if _, err := ParseRecordFile(name+".conf", []byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParseRecordFile: whatever parses formats to a file that parses to
// the same record.
func FuzzParseRecordFile(f *testing.F) {
	f.Add([]byte("[Peer]\nPublicKey = " + config.FormatKey(testKey(1)) + "\nAllowedIPs = 10.0.0.1/32\nEndpoint = 192.0.2.1:51820\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRecordFile("f.conf", data)
		if err != nil {
			return
		}
		if err := r.Check(); err != nil {
			t.Fatalf("accepted a record that fails Check: %v", err)
		}
		out, err := FormatRecordFile(&r)
		if err != nil {
			if strings.ContainsAny(r.Name, "\r\n#") {
				return // a Name directive the writer cannot repeat
			}
			t.Fatalf("format: %v", err)
		}
		back, err := ParseRecordFile("f.conf", out)
		if err != nil {
			t.Fatalf("formatted file does not parse: %v\n%s", err, out)
		}
		if r.Name == "" {
			back.Name = ""
		}
		if !back.Equal(&r) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v\n%s", r, back, out)
		}
	})
}

func TestWatcherScan(t *testing.T) {
	dir := t.TempDir()
	w := New(dir, time.Hour, nil) // scans are driven by the test
	write := func(name string, k sdk.Key, extra string) {
		t.Helper()
		text := "[Peer]\nPublicKey = " + config.FormatKey(k) + "\nAllowedIPs = 10.0.0." + string(rune('0'+k[0])) + "/32\n" + extra
		tmp := filepath.Join(dir, ".tmp")
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("a.conf", testKey(1), "")
	write("b.conf", testKey(2), "")
	write("broken.conf", testKey(3), "Garbage = 1\n")
	write("ignored.txt", testKey(4), "")
	w.Scan()
	if n := w.set.Len(); n != 2 {
		t.Fatalf("first scan: %d records", n)
	}
	// Publishing writes the own file; the next scan reports it too, so
	// that the daemon sees if someone else changes it.
	self := sdk.Record{PublicKey: testKey(9), Endpoints: []string{"192.0.2.9:51820"}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.9/32")}}
	if err := w.Publish(context.Background(), self); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, SelfFileName(self.PublicKey))); err != nil {
		t.Fatal(err)
	}
	write("c.conf", testKey(5), "")                         // added
	write("a.conf", testKey(1), "Endpoint = 192.0.2.1:1\n") // edited
	os.Remove(filepath.Join(dir, "b.conf"))                 // deleted
	write("dup.conf", testKey(5), "")                       // same key as c.conf: ignored
	w.Scan()
	if n := w.set.Len(); n != 3 {
		t.Fatalf("second scan: %d records, want a, c and the own", n)
	}
	if r, _ := w.set.Get(testKey(1)); len(r.Endpoints) != 1 || r.Endpoints[0] != "192.0.2.1:1" {
		t.Fatalf("edit not seen: %+v", r)
	}
	if _, ok := w.set.Get(testKey(2)); ok {
		t.Fatal("deleted file still a record")
	}
	if r, _ := w.set.Get(testKey(5)); r.Name != "c" {
		t.Fatalf("duplicate key: the record came from %q, want c", r.Name)
	}
	if r, ok := w.set.Get(testKey(9)); !ok || len(r.Endpoints) != 1 || r.Endpoints[0] != self.Endpoints[0] {
		t.Fatalf("own record not reported: %+v", r)
	}
	// A file of another name claiming the own key does not replace it.
	write("0-first.conf", testKey(9), "Endpoint = 203.0.113.1:1\n")
	w.Scan()
	if r, _ := w.set.Get(testKey(9)); len(r.Endpoints) != 1 || r.Endpoints[0] != "192.0.2.9:51820" {
		t.Fatalf("own key taken by another file: %+v", r)
	}
	os.Remove(filepath.Join(dir, "0-first.conf"))
	// The own file comes back if someone deletes it, and goes on Close.
	own := filepath.Join(dir, SelfFileName(self.PublicKey))
	os.Remove(own)
	w.Scan()
	if _, err := os.Stat(own); err != nil {
		t.Fatalf("own file not rewritten: %v", err)
	}
	w.Close()
	if _, err := os.Stat(own); !os.IsNotExist(err) {
		t.Fatalf("own file left after Close: %v", err)
	}
}

// TestWatcherRefusesLooseFiles: a directory or file that others may write
// is not used unless Insecure says so.
func TestWatcherRefusesLooseFiles(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	w := New(dir, time.Hour, nil)
	good := "[Peer]\nPublicKey = " + config.FormatKey(testKey(1)) + "\nAllowedIPs = 10.0.0.1/32\n"
	loose := "[Peer]\nPublicKey = " + config.FormatKey(testKey(2)) + "\nAllowedIPs = 10.0.0.2/32\n"
	if err := os.WriteFile(filepath.Join(dir, "good.conf"), []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "loose.conf"), []byte(loose), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "loose.conf"), 0o666) // past the umask
	w.Scan()
	if _, ok := w.set.Get(testKey(2)); ok || w.set.Len() != 1 {
		t.Fatalf("world-writable file used (%d records)", w.set.Len())
	}
	if os.Getuid() == 0 {
		// A file of another user, in a directory it could not write.
		os.Chmod(filepath.Join(dir, "loose.conf"), 0o644)
		if err := os.Chown(filepath.Join(dir, "loose.conf"), 65534, 65534); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(filepath.Join(dir, "loose.conf"), time.Now(), time.Now().Add(time.Second))
		w.Scan()
		if _, ok := w.set.Get(testKey(2)); ok {
			t.Fatal("file of another user used")
		}
	}
	os.Chmod(dir, os.ModeSticky|0o777) // a shared /tmp-like directory
	if err := CheckDir(dir); err == nil || !strings.Contains(err.Error(), "0777") {
		t.Fatalf("CheckDir on a 1777 directory: %v", err)
	}
	// The directory's view is kept, not read, while it is loose.
	os.Remove(filepath.Join(dir, "good.conf"))
	w.Scan()
	if _, ok := w.set.Get(testKey(1)); !ok {
		t.Fatal("a loose directory was read")
	}
	w2 := New(dir, time.Hour, nil)
	w2.Insecure = true
	w2.Scan()
	if _, ok := w2.set.Get(testKey(2)); !ok {
		t.Fatal("Insecure did not allow the file")
	}
}
