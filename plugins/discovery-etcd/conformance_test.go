// SPDX-License-Identifier: MIT

// These tests start an etcd server as a child that dies with the test
// (Pdeathsig), which only Linux offers.

//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgplex/wgplex/plugins/discovery-etcd/etcdrecord"

	"github.com/wgplex/wgplex/internal/testbuild"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/wgplex/wgplex/plugins/sdk"
	"github.com/wgplex/wgplex/plugins/sdk/sdktest"
)

// freePort is a loopback TCP port nobody listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startEtcd runs a single-member etcd on loopback for the test, or skips
// (fails under CI=true) when etcd is not installed.
func startEtcd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("etcd missing (apt-get install etcd-server)")
		}
		t.Skip("etcd missing (apt-get install etcd-server; scripts/test.sh installs it)")
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	name := fmt.Sprintf("wgpx-sdktest-%d", os.Getpid())
	cmd := exec.Command(bin, "--name", name, "--data-dir", filepath.Join(t.TempDir(), "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", name+"="+peer, "--log-level", "warn")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("etcd output:\n%s", out.String())
		}
	})
	return client
}

// etcdRegistry writes records the way other nodes' plugins do.
type etcdRegistry struct {
	cli    *clientv3.Client
	prefix string
}

func (r etcdRegistry) Put(rec sdk.Record) error { return r.PutMany([]sdk.Record{rec}) }

func (r etcdRegistry) Delete(k sdk.Key) error { return r.DeleteMany([]sdk.Key{k}) }

// etcd's default limit of operations per transaction.
const maxTxnOps = 128

func (r etcdRegistry) PutMany(recs []sdk.Record) error {
	var ops []clientv3.Op
	for i := range recs {
		v, err := etcdrecord.Encode(&recs[i])
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(etcdrecord.Name(r.prefix, recs[i].PublicKey), string(v)))
	}
	return r.commit(ops)
}

func (r etcdRegistry) DeleteMany(keys []sdk.Key) error {
	var ops []clientv3.Op
	for _, k := range keys {
		ops = append(ops, clientv3.OpDelete(etcdrecord.Name(r.prefix, k)))
	}
	return r.commit(ops)
}

func (r etcdRegistry) commit(ops []clientv3.Op) error {
	for len(ops) > 0 {
		n := min(len(ops), maxTxnOps)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := r.cli.Txn(ctx).Then(ops[:n]...).Commit()
		cancel()
		if err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// TestConformance runs the SDK's discovery conformance suite against the
// etcd plugin, in process and as a binary, on a real etcd.
func TestConformance(t *testing.T) {
	endpoint := startEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 20 * time.Second, Logger: zap.NewNop()})
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
			t.Fatalf("etcd does not answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Run("in-process", func(t *testing.T) {
		prefix := "/sdktest/in-process/"
		reg := newRegistry(cli, prefix, 5*time.Second, hclog.NewNullLogger())
		ctx, cancel := context.WithCancel(context.Background())
		done := reg.start(ctx)
		defer func() { cancel(); <-done }()
		sdktest.Discovery(t, reg, etcdRegistry{cli: cli, prefix: prefix})
	})
	t.Run("binary", func(t *testing.T) {
		bin := filepath.Join(t.TempDir(), "discovery-etcd")
		if err := testbuild.Build(".", bin, false, "."); err != nil {
			t.Fatal(err)
		}
		prefix := "/sdktest/binary/"
		sdktest.DiscoveryBinary(t, etcdRegistry{cli: cli, prefix: prefix}, bin, "-endpoints", endpoint, "-prefix", prefix, "-ttl", "5s")
	})
}
