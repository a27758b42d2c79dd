// SPDX-License-Identifier: MIT

package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/wgplex/wgplex/fleet"
	"github.com/wgplex/wgplex/plugins"
)

// discoveryMetrics are discovery's refusal and restoration counters.
var discoveryMetrics = plugins.NewDiscoveryMetrics()

// discoveryTrust reads the trust options: the CA files, this node's
// certificate and signing key, the revocation lists, the allow-list. A
// file that cannot be read stops the daemon with an error naming it: a
// node that silently fell back to trusting everything would be worse than
// one that does not start.
func discoveryTrust(log *slog.Logger) (plugins.TrustPolicy, *plugins.FleetIdentity, error) {
	var p plugins.TrustPolicy
	var cas []*fleet.CA
	for _, path := range discoverySplitList(*discoveryCAFlag) {
		raw, err := fleet.ReadFile(path)
		if err != nil {
			return p, nil, fmt.Errorf("--discovery-ca %s: %v", path, err)
		}
		ca, err := fleet.ParseCA(raw)
		if err != nil {
			return p, nil, fmt.Errorf("--discovery-ca %s: %v", path, err)
		}
		cas = append(cas, ca)
	}
	if len(cas) > 0 {
		roots, err := fleet.NewRoots(cas...)
		if err != nil {
			return p, nil, fmt.Errorf("--discovery-ca: %v", err)
		}
		p.Roots = roots
	}
	if *discoveryAllowFlag != "" {
		if p.Roots != nil {
			return p, nil, errors.New("--discovery-allow applies without a CA; with --discovery-ca the certificates bound what a node may claim")
		}
		allow, err := parsePrefixList(*discoveryAllowFlag)
		if err != nil {
			return p, nil, fmt.Errorf("--discovery-allow: %v", err)
		}
		p.Allow = allow
	}
	if paths := discoverySplitList(*discoveryRevocationsFlag); len(paths) > 0 {
		if p.Roots == nil {
			return p, nil, errors.New("--discovery-revocations needs --discovery-ca")
		}
		rl := &revocationFiles{paths: paths, roots: p.Roots, log: log}
		if err := rl.load(); err != nil {
			return p, nil, err
		}
		p.Revocations = rl.current
	}
	id, err := discoveryIdentity(p.Roots, log)
	if err != nil {
		return p, nil, err
	}
	if p.Roots != nil {
		log.Info("Discovery trusts fleet CAs; unsigned records are refused", "cas", p.Roots.Len())
	}
	return p, id, nil
}

// discoveryIdentity reads this node's certificate and signing key.
func discoveryIdentity(roots *fleet.Roots, log *slog.Logger) (*plugins.FleetIdentity, error) {
	certPath, keyPath := *discoveryCertFlag, *discoverySigningKeyFlag
	switch {
	case certPath == "" && keyPath == "":
		if roots != nil {
			log.Warn("Discovery has a CA but no --discovery-cert: this node's record is unsigned and other nodes with the CA refuse it")
		}
		return nil, nil
	case certPath == "":
		return nil, errors.New("--discovery-signing-key needs --discovery-cert")
	case keyPath == "":
		return nil, errors.New("--discovery-cert needs --discovery-signing-key")
	}
	raw, err := fleet.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("--discovery-cert %s: %v", certPath, err)
	}
	cert, err := fleet.ParseCertificate(raw)
	if err != nil {
		return nil, fmt.Errorf("--discovery-cert %s: %v", certPath, err)
	}
	key, err := fleet.ReadPrivateKeyFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("--discovery-signing-key %s: %v", keyPath, err)
	}
	if !key.Public().(ed25519.PublicKey).Equal(cert.SigningKey) {
		clear(key)
		return nil, fmt.Errorf("--discovery-signing-key %s: not the signing key certificate %s names", keyPath, certPath)
	}
	if roots != nil {
		if _, ok := roots.Lookup(cert.Issuer); !ok {
			log.Warn("This node's certificate is not issued by a CA this node trusts", "cert", certPath, "issuer", cert.Issuer.String())
		}
	}
	if time.Now().After(cert.NotAfter) {
		log.Error("This node's certificate has expired; other nodes refuse its record", "cert", certPath, "not_after", cert.NotAfter)
	}
	log.Info("Discovery signs this node's record", "cert", certPath, "name", cert.Name, "serial", cert.Serial, "not_after", cert.NotAfter)
	return &plugins.FleetIdentity{Cert: cert, Key: key}, nil
}

// revocationFiles holds the revocation lists and reads them again when a
// file changes, at most once a second. A list that became unreadable or
// invalid keeps the last good one in force (and is logged): dropping
// revocations because a file is being replaced would re-admit revoked
// nodes.
type revocationFiles struct {
	paths []string
	roots *fleet.Roots
	log   *slog.Logger

	mu      sync.Mutex
	cur     *fleet.Revocations
	stamps  []time.Time
	checked time.Time
}

func (r *revocationFiles) load() error {
	var lists []*fleet.RevocationList
	stamps := make([]time.Time, len(r.paths))
	for i, path := range r.paths {
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("--discovery-revocations %s: %v", path, err)
		}
		stamps[i] = st.ModTime()
		raw, err := fleet.ReadFile(path)
		if err != nil {
			return fmt.Errorf("--discovery-revocations %s: %v", path, err)
		}
		l, err := fleet.ParseRevocationList(raw)
		if err != nil {
			return fmt.Errorf("--discovery-revocations %s: %v", path, err)
		}
		lists = append(lists, l)
	}
	rv, err := fleet.NewRevocations(r.roots, lists...)
	if err != nil {
		return fmt.Errorf("--discovery-revocations: %v", err)
	}
	r.cur, r.stamps = rv, stamps
	return nil
}

// current is the revocations in force, re-read if a file changed.
func (r *revocationFiles) current() *fleet.Revocations {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < time.Second {
		return r.cur
	}
	r.checked = time.Now()
	for i, path := range r.paths {
		st, err := os.Stat(path)
		if err == nil && st.ModTime().Equal(r.stamps[i]) {
			continue
		}
		if err := r.load(); err != nil {
			r.log.Error("Revocation list unusable; the previous lists stay in force", "err", err)
			return r.cur
		}
		r.log.Info("Revocation lists read again")
		break
	}
	return r.cur
}
