// SPDX-License-Identifier: MIT

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/config"
)

// set, setconf, addconf and syncconf change an interface over the UAPI
// with wg(8)'s arguments and semantics. Everything is parsed, read and
// resolved before anything is sent, and the change goes out as one set
// request, which the daemon applies whole or not at all: a bad argument or
// a bad file changes nothing.

func runSet(args []string, _ io.Reader, _, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintf(stderr, "Usage: %s %s\n", progName, commandUsage("set"))
		return 1
	}
	cfg, err := parseSetArgs(args[1:], resolveEndpoint)
	if err != nil {
		fmt.Fprintf(stderr, "%s set: %v\n", progName, err)
		return 1
	}
	return apply(args[0], cfg, stderr)
}

// parseSetArgs turns set's arguments into a change set. As in wg, device
// options are accepted only before the first peer, and each allowed-ips
// replaces the peer's list.
func parseSetArgs(args []string, resolve config.Resolver) (core.Config, error) {
	var cfg core.Config
	peer := -1
	for len(args) > 0 {
		opt := args[0]
		hasValue := len(args) >= 2
		var value string
		if hasValue {
			value = args[1]
		}
		var p *core.PeerConfig
		if peer >= 0 {
			p = &cfg.Peers[peer]
		}
		switch {
		case opt == "listen-port" && hasValue && p == nil:
			port, err := config.ParsePort(value)
			if err != nil {
				return core.Config{}, err
			}
			cfg.ListenPort = &port
		case opt == "fwmark" && hasValue && p == nil:
			mark, err := config.ParseFwMark(value)
			if err != nil {
				return core.Config{}, err
			}
			cfg.FwMark = &mark
		case opt == "private-key" && hasValue && p == nil:
			k, err := config.ReadKeyFile(value)
			if err != nil {
				return core.Config{}, fmt.Errorf("private-key: %w", err)
			}
			pk := core.PrivateKey(k)
			clear(k[:])
			cfg.PrivateKey = &pk
		case opt == "peer" && hasValue:
			k, err := config.ParseKey(value)
			if err != nil {
				return core.Config{}, fmt.Errorf("peer: %w", err)
			}
			cfg.Peers = append(cfg.Peers, core.PeerConfig{PublicKey: core.PublicKey(k)})
			peer = len(cfg.Peers) - 1
		case opt == "remove" && p != nil:
			p.Remove = true
			args = args[1:]
			continue
		case opt == "endpoint" && hasValue && p != nil:
			ap, err := resolve(value)
			if err != nil {
				return core.Config{}, fmt.Errorf("endpoint %s: %w", value, err)
			}
			p.Endpoint = &ap
		case opt == "allowed-ips" && hasValue && p != nil:
			ips, err := config.ParseAllowedIPs(strings.Join(strings.Fields(value), ""))
			if err != nil {
				return core.Config{}, err
			}
			p.ReplaceAllowedIPs = true
			p.AllowedIPs = p.AllowedIPs[:0]
			for _, ip := range ips {
				p.AllowedIPs = append(p.AllowedIPs, core.AllowedIPChange{Prefix: ip})
			}
		case opt == "persistent-keepalive" && hasValue && p != nil:
			secs, err := config.ParseKeepalive(value)
			if err != nil {
				return core.Config{}, err
			}
			p.PersistentKeepalive = &secs
		case opt == "preshared-key" && hasValue && p != nil:
			k, err := config.ReadKeyFile(value)
			if err != nil {
				return core.Config{}, fmt.Errorf("preshared-key: %w", err)
			}
			psk := core.PresharedKey(k)
			clear(k[:])
			p.PresharedKey = &psk
		default:
			return core.Config{}, fmt.Errorf("invalid argument: %s", opt)
		}
		args = args[2:]
	}
	return cfg, nil
}

// confCommand returns setconf, addconf or syncconf.
func confCommand(name string) func([]string, io.Reader, io.Writer, io.Writer) int {
	return func(args []string, _ io.Reader, _, stderr io.Writer) int {
		if len(args) != 2 {
			fmt.Fprintf(stderr, "Usage: %s %s <interface> <configuration filename>\n", progName, name)
			return 1
		}
		ifname, path := args[0], args[1]
		f, err := config.ParseFile(path)
		if err == nil {
			err = f.WGOnly()
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		var cfg core.Config
		switch name {
		case "setconf":
			cfg, err = f.SetConf(resolveEndpoint)
		case "addconf":
			cfg, err = f.AddConf(resolveEndpoint)
		case "syncconf":
			// Resolve before reading the interface, so that the picture
			// the diff is made against is as fresh as it can be.
			if _, err = f.SetConf(resolveEndpoint); err != nil {
				break
			}
			cur, gerr := getDevice(ifname)
			if gerr != nil {
				fmt.Fprintf(stderr, "Unable to retrieve current interface configuration: %s\n", strerror(gerr))
				return 1
			}
			cfg, err = f.SyncConf(cur, resolveEndpoint)
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return apply(ifname, cfg, stderr)
	}
}

// apply sends one change set to the interface.
func apply(ifname string, cfg core.Config, stderr io.Writer) int {
	c, err := dialInterface(ifname)
	if err == nil {
		err = c.Set(cfg)
		c.Close()
	}
	if err != nil {
		fmt.Fprintf(stderr, "Unable to modify interface: %s\n", strerror(err))
		return 1
	}
	return 0
}

// resolveEndpoint resolves an endpoint, retrying lookups that may succeed
// later (no network yet at boot) as wg does: 15 more times by default,
// WG_ENDPOINT_RESOLUTION_RETRIES=N or "infinity" to change that, with
// waits growing from 1 s to 20 s. A name that does not exist fails at once.
func resolveEndpoint(endpoint string) (netip.AddrPort, error) {
	retries := 15
	if v := os.Getenv("WG_ENDPOINT_RESOLUTION_RETRIES"); v != "" {
		if v == "infinity" {
			retries = -1
		} else if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			retries = n
		}
	}
	wait := time.Second
	for {
		ap, err := config.ResolveEndpoint(context.Background(), endpoint)
		var dnsErr *net.DNSError
		if err == nil || !errors.As(err, &dnsErr) || dnsErr.IsNotFound || retries == 0 {
			return ap, err
		}
		if retries > 0 {
			retries--
		}
		fmt.Fprintf(os.Stderr, "%v: `%s'. Trying again in %.2f seconds...\n", err, endpoint, wait.Seconds())
		time.Sleep(wait)
		wait = min(20*time.Second, wait*6/5)
	}
}
