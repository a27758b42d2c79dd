// SPDX-License-Identifier: MIT

//go:build unix

package plugins_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgplex/wgplex/plugins"
	"github.com/wgplex/wgplex/plugins/sdk/sdktest"
)

// debianPython returns a Python 3 with Debian's python3-grpcio and
// python3-cryptography, preferring /usr/bin/python3 (another python3 on
// PATH, such as a version manager's, lacks Debian's packages). Without it
// the test skips, or fails under CI=true.
func debianPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(py); err == nil {
			if exec.Command(p, "-c", "import grpc, cryptography").Run() == nil {
				return p
			}
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3 with grpc and cryptography missing (apt-get install python3-grpcio python3-cryptography)")
	}
	t.Skip("python3 with grpc and cryptography missing (apt-get install python3-grpcio python3-cryptography)")
	return ""
}

// TestPythonKeyVault runs the Python example through the host: the
// conformance suite over AutoMTLS, then a Close that the plugin honours
// through go-plugin's controller service rather than being killed.
func TestPythonKeyVault(t *testing.T) {
	py := debianPython(t)
	script, err := filepath.Abs("examples/python-keyvault/keyvault.py")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeKeyFile(t, newTestKey(t), 0o600)
	t.Run("conformance", func(t *testing.T) {
		sdktest.KeyVaultBinary(t, py, script, "-key", keyFile)
	})
	cfg := fastConfig(t, py, script, "-key", keyFile)
	log, logs := newLogger(t)
	cfg.Logger, cfg.Name = log, "python-keyvault"
	kv, err := plugins.StartKeyVault(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.DH(randomPeer(t)); err != nil {
		t.Fatal(err)
	}
	pid := kv.Plugin().Pid()
	kv.Close()
	eventually(t, 5*time.Second, "plugin gone", func() bool { return processGone(pid) })
	if !strings.Contains(logs.String(), "Shutdown requested by the daemon") {
		t.Errorf("the plugin was not asked to stop through the controller service:\n%s", logs)
	}
	if strings.Contains(logs.String(), "signal: killed") {
		t.Errorf("the plugin was killed instead of stopping:\n%s", logs)
	}
}
