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
	"github.com/wgplex/wgplex/plugins/sdk"
)

// trust reads the trust options: the CA files, this node's
// certificate and signing key, the revocation lists, the allow-list. A
// file that cannot be read stops the daemon with an error naming it: a
// node that silently fell back to trusting everything would be worse than
// one that does not start.
func (d *discoveryPart) trust(env *daemonEnv) (plugins.TrustPolicy, *plugins.FleetIdentity, func(), error) {
	log := env.Log
	var p plugins.TrustPolicy
	var cas []*fleet.CA
	for _, path := range discoverySplitList(*d.ca) {
		raw, err := fleet.ReadFile(path)
		if err != nil {
			return p, nil, nil, fmt.Errorf("--discovery-ca %s: %v", path, err)
		}
		ca, err := fleet.ParseCA(raw)
		if err != nil {
			return p, nil, nil, fmt.Errorf("--discovery-ca %s: %v", path, err)
		}
		cas = append(cas, ca)
	}
	if len(cas) > 0 {
		roots, err := fleet.NewRoots(cas...)
		if err != nil {
			return p, nil, nil, fmt.Errorf("--discovery-ca: %v", err)
		}
		p.Roots = roots
	}
	if *d.allow != "" {
		if p.Roots != nil {
			return p, nil, nil, errors.New("--discovery-allow applies without a CA; with --discovery-ca the certificates bound what a node may claim")
		}
		allow, err := parsePrefixList(*d.allow)
		if err != nil {
			return p, nil, nil, fmt.Errorf("--discovery-allow: %v", err)
		}
		p.Allow = allow
	}
	if paths := discoverySplitList(*d.revocations); len(paths) > 0 {
		if p.Roots == nil {
			return p, nil, nil, errors.New("--discovery-revocations needs --discovery-ca")
		}
		rl := &revocationFiles{paths: paths, roots: p.Roots, log: log}
		if err := rl.load(); err != nil {
			return p, nil, nil, err
		}
		p.Revocations = rl.current
	}
	id, stop, err := d.identity(p.Roots, env)
	if err != nil {
		return p, nil, nil, err
	}
	if p.Roots != nil {
		log.Info("Discovery trusts fleet CAs; unsigned records are refused", "cas", p.Roots.Len())
	}
	return p, id, stop, nil
}

// discoveryIdentity reads this node's certificate and signing key, or
// starts the key vault that signs for it (--discovery-signer); stop ends
// that vault.
func (d *discoveryPart) identity(roots *fleet.Roots, env *daemonEnv) (id *plugins.FleetIdentity, stop func(), err error) {
	log := env.Log
	certPath, keyPath, signer := *d.cert, *d.signingKey, *d.signer
	switch {
	case certPath == "" && keyPath == "" && signer == "":
		if roots != nil {
			log.Warn("Discovery has a CA but no --discovery-cert: this node's record is unsigned and other nodes with the CA refuse it")
		}
		return nil, func() {}, nil
	case certPath == "":
		return nil, nil, errors.New("--discovery-signing-key and --discovery-signer need --discovery-cert")
	case keyPath == "" && signer == "":
		return nil, nil, errors.New("--discovery-cert needs --discovery-signing-key or --discovery-signer")
	case keyPath != "" && signer != "":
		return nil, nil, errors.New("--discovery-signing-key and --discovery-signer are exclusive")
	}
	raw, err := fleet.ReadFile(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("--discovery-cert %s: %v", certPath, err)
	}
	cert, err := fleet.ParseCertificate(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("--discovery-cert %s: %v", certPath, err)
	}
	id = &plugins.FleetIdentity{Cert: cert}
	stop = func() {}
	if signer != "" {
		kv, err := startSigner(signer, cert, env)
		if err != nil {
			return nil, nil, err
		}
		id.Sign = func(msg []byte) ([]byte, error) {
			sig, _, err := kv.SignRecord(msg)
			return sig, err
		}
		stop = func() { kv.Close() }
	} else {
		key, err := fleet.ReadPrivateKeyFile(keyPath)
		if err != nil {
			return nil, nil, fmt.Errorf("--discovery-signing-key %s: %v", keyPath, err)
		}
		if !key.Public().(ed25519.PublicKey).Equal(cert.SigningKey) {
			clear(key)
			return nil, nil, fmt.Errorf("--discovery-signing-key %s: not the signing key certificate %s names", keyPath, certPath)
		}
		id.Key = key
	}
	if roots != nil {
		if _, ok := roots.Lookup(cert.Issuer); !ok {
			log.Warn("This node's certificate is not issued by a CA this node trusts", "cert", certPath, "issuer", cert.Issuer.String())
		}
	}
	if time.Now().After(cert.NotAfter) {
		log.Error("This node's certificate has expired; other nodes refuse its record", "cert", certPath, "not_after", cert.NotAfter)
	}
	log.Info("Discovery signs this node's record", "cert", certPath, "name", cert.Name, "serial", cert.Serial,
		"not_after", cert.NotAfter, "by_key_vault", signer != "")
	return id, stop, nil
}

// startSigner launches the key vault that holds the signing key (an
// instance of its own, beside the interface's key vault if there is one)
// and checks that it signs under the certificate's signing key.
func startSigner(cmdline string, cert *fleet.Certificate, env *daemonEnv) (*plugins.KeyVault, error) {
	argv, err := plugins.SplitCommandLine(cmdline)
	if err != nil {
		return nil, fmt.Errorf("--discovery-signer: %w", err)
	}
	cfg, err := pluginOptions("keyvault", env.vaultOptions)
	if err != nil {
		return nil, err
	}
	cfg.Name, cfg.Command, cfg.Logger, cfg.Metrics = "discovery-signer", argv, env.Log, env.Plugins.metrics
	kv, err := plugins.StartKeyVault(cfg)
	if err != nil {
		return nil, fmt.Errorf("--discovery-signer: %w", err)
	}
	probe := []byte(sdk.RecordMagic + "signing key probe")
	sig, pub, err := kv.SignRecord(probe)
	switch {
	case err != nil:
		err = fmt.Errorf("--discovery-signer: the key vault does not sign records: %w", err)
	case !pub.Equal(cert.SigningKey) || !ed25519.Verify(pub, probe, sig):
		err = errors.New("--discovery-signer: the key vault's signing key is not the one the certificate names")
	}
	if err != nil {
		kv.Close()
		return nil, err
	}
	return kv, nil
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
