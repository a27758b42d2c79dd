// SPDX-License-Identifier: MIT

//go:build unix

package plugins_test

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins"
	"github.com/wgplex/wgplex/plugins/sdk"
	"github.com/wgplex/wgplex/plugins/testdata/kvv2"
)

// v1v2 is a daemon that speaks the key vault protocol in versions 1 and 2.
func v1v2() map[int]plugin.PluginSet {
	m := sdk.VersionedPluginMap()
	m[2] = plugin.PluginSet{sdk.KindKeyVault: &kvv2.Plugin{}}
	return m
}

// checkVault runs DH calls through a started vault; the self-check at start
// already compared one against the reference.
func checkVault(t *testing.T, kv *plugins.KeyVault) {
	t.Helper()
	for range 3 {
		if _, err := kv.DH(randomPeer(t)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestProtocolVersionNegotiation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		daemon   map[int]plugin.PluginSet
		argv     []string
		want     int    // negotiated version; 0: refused
		wantErrs string // the refusal names both sides' versions
	}{
		{"v1 plugin, v1+v2 daemon", v1v2(), []string{pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, newTestKey(t), 0o600)}, 1, ""},
		{"v1 SDK plugin, v1+v2 daemon", v1v2(), []string{pluginBin(t, "versionedvault"), "-versions", "1"}, 1, ""},
		{"v2 plugin, v1+v2 daemon", v1v2(), []string{pluginBin(t, "versionedvault"), "-versions", "2"}, 2, ""},
		{"v1+v2 plugin, v1+v2 daemon", v1v2(), []string{pluginBin(t, "versionedvault"), "-versions", "1,2"}, 2, ""},
		{"v1+v2 plugin, v1 daemon", nil, []string{pluginBin(t, "versionedvault"), "-versions", "1,2"}, 1, ""},
		{"v3 plugin, v1+v2 daemon", v1v2(), []string{pluginBin(t, "versionedvault"), "-versions", "3"}, 0,
			"the plugin speaks plugin protocol version 3, this wgplex speaks 1, 2"},
		{"v2 plugin, v1 daemon", nil, []string{pluginBin(t, "versionedvault"), "-versions", "2"}, 0,
			"the plugin speaks plugin protocol version 2, this wgplex speaks 1;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fastConfig(t, tc.argv...)
			cfg.Versions = tc.daemon
			kv, err := plugins.StartKeyVault(cfg)
			if tc.want == 0 {
				if err == nil {
					kv.Close()
					t.Fatal("started")
				}
				if !strings.Contains(err.Error(), tc.wantErrs) {
					t.Fatalf("error %q, want it to contain %q", err, tc.wantErrs)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer kv.Close()
			if got := kv.Plugin().ProtocolVersion(); got != tc.want {
				t.Fatalf("negotiated version %d, want %d", got, tc.want)
			}
			if st := kv.Plugin().State(); st.Protocol != tc.want || !st.Up {
				t.Fatalf("state %+v", st)
			}
			checkVault(t, kv)
			if kv.PublicKey() == (core.PublicKey{}) {
				t.Fatal("no public key")
			}
			kv.Close()
			if st := kv.Plugin().State(); st.Up || st.Protocol != 0 || st.Pid != 0 {
				t.Fatalf("state after Close %+v", st)
			}
		})
	}
}
