// SPDX-License-Identifier: MIT

// Command discovery-etcd is the wgplex etcd discovery plugin. It registers
// this node under a key prefix with a lease that it keeps alive, watches
// the prefix, and reports every other node's record to the daemon. A node
// that stops renewing its lease (it died, or lost the network) disappears
// from the others when the lease expires; a node that stops in good order
// revokes its lease and disappears at once.
//
//	wgplex --discovery "discovery-etcd -endpoints http://10.0.0.254:2379 -prefix /wgplex/mesh/ -ttl 10s" wg0
//
// Records are JSON under PREFIX + the public key in unpadded base64url:
//
//	{"public_key":"...","name":"host-3","endpoints":["192.0.2.3:51820"],"allowed_ips":["10.0.0.3/32"]}
//
// When etcd goes away the plugin keeps the last view (the daemon keeps its
// peers) and keeps trying; when it comes back the plugin registers again
// if its lease is gone, lists the prefix and sends the daemon a fresh
// snapshot, so nothing that changed meanwhile is missed.
//
// Credentials: -cacert, -cert and -key for TLS; the user name and password,
// if any, come from WGPLEX_ETCD_USERNAME and WGPLEX_ETCD_PASSWORD (not
// flags, which every local user can read in the process list).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/wgplex/wgplex/plugins/sdk"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("discovery-etcd", flag.ContinueOnError)
	endpoints := fs.String("endpoints", "http://127.0.0.1:2379", "etcd client URLs, comma-separated")
	prefix := fs.String("prefix", "/wgplex/peers/", "key prefix of the mesh; every node of one mesh uses the same")
	ttl := fs.Duration("ttl", 10*time.Second, "lease time to live: how long a node that stops renewing stays registered")
	dialTimeout := fs.Duration("dial-timeout", 5*time.Second, "timeout of a connection attempt")
	caCert := fs.String("cacert", "", "CA bundle to verify etcd's certificate (enables TLS)")
	cert := fs.String("cert", "", "client certificate for etcd (TLS)")
	key := fs.String("key", "", "client key for etcd (TLS)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || *prefix == "" || *ttl < 2*time.Second {
		fmt.Fprintln(os.Stderr, "usage: discovery-etcd [-endpoints URLS] [-prefix P] [-ttl D (at least 2s)] [-cacert F -cert F -key F]")
		return 2
	}
	cfg, err := clientConfig(*endpoints, *dialTimeout, *caCert, *cert, *key,
		os.Getenv("WGPLEX_ETCD_USERNAME"), os.Getenv("WGPLEX_ETCD_PASSWORD"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "discovery-etcd: %v\n", err)
		return 1
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "discovery-etcd: %v\n", err)
		return 1
	}
	defer cli.Close()

	reg := newRegistry(cli, *prefix, *ttl, sdk.Logger("discovery-etcd"))
	ctx, cancel := context.WithCancel(context.Background())
	done := reg.start(ctx)
	sdk.ServeDiscovery(reg)
	cancel()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
	return 0
}

// clientConfig is the etcd client configuration: TLS when a CA bundle or
// a client certificate is given (the server's certificate checked against
// caCert, the client's presented for --client-cert-auth), and user name
// and password for etcd's own authentication.
func clientConfig(endpoints string, dialTimeout time.Duration, caCert, cert, key, user, password string) (clientv3.Config, error) {
	cfg := clientv3.Config{
		Endpoints:            strings.Split(endpoints, ","),
		DialTimeout:          dialTimeout,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
		Username:             user,
		Password:             password,
	}
	if (cert == "") != (key == "") {
		return cfg, fmt.Errorf("TLS: -cert and -key go together")
	}
	if caCert != "" || cert != "" {
		tlsInfo := transport.TLSInfo{TrustedCAFile: caCert, CertFile: cert, KeyFile: key}
		tc, err := tlsInfo.ClientConfig()
		if err != nil {
			return cfg, fmt.Errorf("TLS: %v", err)
		}
		cfg.TLS = tc
	}
	return cfg, nil
}
