// SPDX-License-Identifier: MIT

// Command genrecords fills a discovery registry with N made-up nodes, for
// bench/idle.sh: each a random public key, one /32 in 10.0.0.0/8 and an
// endpoint in 198.18.0.0/15 (the benchmarking range, where nothing
// answers). Records go into etcd, as the etcd discovery plugin stores them
// (JSON under PREFIX + the key in base64url, no lease, so they stay after
// genrecords exits), or into a directory as the directory plugin's peer
// files.
//
//	genrecords -n 5000 -etcd http://127.0.0.1:2379 -prefix /bench/
//	genrecords -n 5000 -dir /srv/peers
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wgplex/wgplex/plugins/discovery-dir/dirdisc"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// maxRecords is what the two address ranges hold: 198.18.0.0/15 has 2^17
// endpoints.
const maxRecords = 1 << 17

// etcdBatch is the puts per transaction, under etcd's default limit of
// 128 operations.
const etcdBatch = 100

func main() {
	n := flag.Int("n", 5000, "number of records")
	endpoints := flag.String("etcd", "", "etcd client URLs, comma-separated")
	prefix := flag.String("prefix", "", "etcd key prefix (as the plugin's -prefix)")
	dir := flag.String("dir", "", "directory of peer files (as --discovery-dir)")
	flag.Parse()
	if err := run(*n, *endpoints, *prefix, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "genrecords:", err)
		os.Exit(1)
	}
}

func run(n int, endpoints, prefix, dir string) error {
	if n < 0 || n > maxRecords {
		return fmt.Errorf("-n %d: want 0 to %d", n, maxRecords)
	}
	if (endpoints == "") == (dir == "") {
		return errors.New("give one of -etcd (with -prefix) or -dir")
	}
	recs := make([]sdk.Record, n)
	for i := range recs {
		r, err := record(i)
		if err != nil {
			return err
		}
		recs[i] = r
	}
	if dir != "" {
		return writeDir(dir, recs)
	}
	if prefix == "" {
		return errors.New("-etcd needs -prefix")
	}
	return putEtcd(strings.Split(endpoints, ","), prefix, recs)
}

// record is made-up node i.
func record(i int) (sdk.Record, error) {
	var r sdk.Record
	if _, err := rand.Read(r.PublicKey[:]); err != nil {
		return r, err
	}
	a := 10<<24 | uint32(i+1)
	r.AllowedIPs = []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), 32)}
	e := 198<<24 | 18<<16 | uint32(i)
	r.Endpoints = []string{fmt.Sprintf("%d.%d.%d.%d:51820", byte(e>>24), byte(e>>16), byte(e>>8), byte(e))}
	r.Name = fmt.Sprintf("bench-%d", i)
	return r, r.Check()
}

// writeDir writes one peer file per record, each renamed into place as a
// node's plugin does.
func writeDir(dir string, recs []sdk.Record) error {
	for i := range recs {
		data, err := dirdisc.FormatRecordFile(&recs[i])
		if err != nil {
			return err
		}
		name := filepath.Join(dir, dirdisc.SelfFileName(recs[i].PublicKey))
		tmp := filepath.Join(dir, ".genrecords-tmp")
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, name); err != nil {
			return err
		}
	}
	return nil
}

// etcdValue is the etcd plugin's stored form of a record (its JSON field
// names, documented as writable with etcdctl).
type etcdValue struct {
	PublicKey  string   `json:"public_key"`
	Name       string   `json:"name,omitempty"`
	Endpoints  []string `json:"endpoints,omitempty"`
	AllowedIPs []string `json:"allowed_ips,omitempty"`
}

func putEtcd(endpoints []string, prefix string, recs []sdk.Record) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer cli.Close()
	for start := 0; start < len(recs); start += etcdBatch {
		end := min(start+etcdBatch, len(recs))
		ops := make([]clientv3.Op, 0, end-start)
		for _, r := range recs[start:end] {
			v := etcdValue{PublicKey: base64.StdEncoding.EncodeToString(r.PublicKey[:]), Name: r.Name, Endpoints: r.Endpoints}
			for _, p := range r.AllowedIPs {
				v.AllowedIPs = append(v.AllowedIPs, p.String())
			}
			data, err := json.Marshal(v)
			if err != nil {
				return err
			}
			ops = append(ops, clientv3.OpPut(prefix+base64.RawURLEncoding.EncodeToString(r.PublicKey[:]), string(data)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := cli.Txn(ctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("etcd put of records %d-%d: %w", start, end-1, err)
		}
	}
	return nil
}
