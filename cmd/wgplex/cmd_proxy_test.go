// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core/uapi"
)

func TestParseProxyArgs(t *testing.T) {
	a, err := parseProxyArgs([]string{"-n", "/etc/wireproxy/home.conf"}, newDaemon(nil).flags)
	if err != nil || !a.configTest || a.name != "home" || a.conf != "/etc/wireproxy/home.conf" {
		t.Fatalf("%+v %v", a, err)
	}
	a, err = parseProxyArgs([]string{"--name=wp0", "x.conf"}, newDaemon(nil).flags)
	if err != nil || a.name != "wp0" {
		t.Fatalf("%+v %v", a, err)
	}
	for _, bad := range [][]string{{}, {"a.conf", "b.conf"}, {"--nope", "1", "a.conf"}, {"-x", "a.conf"}, {"--name", "../x", "a.conf"}, {"--name"}} {
		if _, err := parseProxyArgs(bad, newDaemon(nil).flags); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRuntimeDirs(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("named pipes")
	}
	t.Setenv("WGPLEX_RUNTIME_DIR", "/tmp/a")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	if d := proxySocketDir(); d != "/tmp/a" {
		t.Errorf("proxySocketDir = %q", d)
	}
	if ds := socketDirs(); len(ds) != 1 || ds[0] != "/tmp/a" {
		t.Errorf("socketDirs = %q", ds)
	}
	t.Setenv("WGPLEX_RUNTIME_DIR", "")
	if d := proxySocketDir(); d != "/run/user/1000/wgplex" {
		t.Errorf("proxySocketDir = %q", d)
	}
	if ds := socketDirs(); len(ds) != 2 || ds[0] != "/run/user/1000/wgplex" || ds[1] != uapi.DefaultSocketDir {
		t.Errorf("socketDirs = %q", ds)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	want := ""
	if os.Geteuid() == 0 {
		want = uapi.DefaultSocketDir
	}
	if d := proxySocketDir(); d != want {
		t.Errorf("proxySocketDir = %q, want %q", d, want)
	}
}

func TestShowFindsUserSocket(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("named pipes")
	}
	dir := t.TempDir()
	t.Setenv("WGPLEX_RUNTIME_DIR", dir)
	if _, err := dialInterface("nothere"); err == nil {
		t.Fatal("dial of a missing interface succeeded")
	}
	srv, err := uapi.Listen(dir, "wp0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	names, err := listInterfaces()
	if err != nil || len(names) != 1 || names[0] != "wp0" {
		t.Fatalf("listInterfaces = %q, %v", names, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "wp0.sock")); err != nil {
		t.Fatal(err)
	}
}

func TestProxyConfigTest(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "wp.conf")
	os.WriteFile(conf, []byte("[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\nAddress = 10.0.0.2/32\n[Socks5]\nBindAddress = 127.0.0.1:0\n"), 0o600)
	var out, errb bytes.Buffer
	if code := runProxy([]string{"-n", conf}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "configuration OK") {
		t.Fatalf("code %d, %s %s", code, out.String(), errb.String())
	}
	os.WriteFile(conf, []byte("[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n[Socks5]\n"), 0o600)
	out.Reset()
	errb.Reset()
	if code := runProxy([]string{"-n", conf}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), conf+":3: [Socks5] needs BindAddress") {
		t.Fatalf("code %d, %q", code, errb.String())
	}
	if strings.Contains(errb.String(), "yAnz5TF") {
		t.Fatal("the error quotes the private key")
	}
	os.WriteFile(conf, []byte("[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"), 0o600)
	errb.Reset()
	if code := runProxy([]string{"-n", conf}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "has no Address") {
		t.Fatalf("no Address: code %d, %q", code, errb.String())
	}
	os.WriteFile(conf, []byte("[Interface]\nAddress = 10.0.0.2/32\n"), 0o600)
	errb.Reset()
	if code := runProxy([]string{"-n", conf}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no PrivateKey") {
		t.Fatalf("no key: code %d, %q", code, errb.String())
	}
	os.WriteFile(conf, []byte("[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\nAddress = 10.0.0.2/32\nPostUp = echo hi\n"), 0o600)
	errb.Reset()
	if code := runProxy([]string{"-n", conf}, nil, &out, &errb); code != 0 || !strings.Contains(errb.String(), "ignored without a host interface") {
		t.Fatalf("PostUp: code %d, %q", code, errb.String())
	}
}
