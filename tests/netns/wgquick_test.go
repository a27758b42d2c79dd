// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWgQuickUpDown brings an interface up with wg-quick(8) using the
// implementation under test as its userspace daemon, talks to a wireguard-go
// peer through it, takes it down again and checks that wg-quick down left
// nothing behind: no interface, no UAPI socket, no daemon process.
//
// wg-quick names the interface after the configuration file. The file sets
// no DNS (which would need resolvconf) and no default route (which would
// make wg-quick touch sysctl and the firewall).
func TestWgQuickUpDown(t *testing.T) {
	impl, ref := implUnderTest(t), implReference(t)
	nsQ, nsP := NewNetns(t), NewNetns(t)
	Veth(t, nsQ, "ul0", nsP, "ul0")
	nsQ.AddAddr("ul0", "10.213.3.1/24")
	nsP.AddAddr("ul0", "10.213.3.2/24")

	peer := StartDaemon(t, nsP, ref)
	qKey, pKey, psk := GenKey(t), GenKey(t), GenPSK(t)
	peer.SetConf(fmt.Sprintf(`[Interface]
PrivateKey = %s
ListenPort = 51002

[Peer]
PublicKey = %s
PresharedKey = %s
AllowedIPs = 10.214.3.1/32, fd00:214:3::1/128
`, pKey.Private, qKey.Public, psk))
	peer.Up("10.214.3.2/24", "fd00:214:3::2/64")

	iface := "wgpxq" + uniqueID()
	for fileExists(SocketPath(iface)) {
		iface = "wgpxq" + uniqueID()
	}
	conf := writeTemp(t, iface+".conf", fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.214.3.1/24, fd00:214:3::1/64
MTU = 1380
ListenPort = 51001

[Peer]
PublicKey = %s
PresharedKey = %s
AllowedIPs = 10.214.3.2/32, fd00:214:3::2/128
Endpoint = 10.213.3.2:51002
`, qKey.Private, pKey.Public, psk))
	t.Cleanup(func() { os.Remove(SocketPath(iface)) })

	// The daemon wg-quick starts detaches and may keep the output file open,
	// so it goes to a file rather than a pipe that Wait would wait on.
	logPath := filepath.Join(t.TempDir(), "wg-quick.log")
	wgQuick := func(action string) {
		t.Helper()
		log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer log.Close()
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		cmd := nsQ.Command(ctx, "env", "WG_QUICK_USERSPACE_IMPLEMENTATION="+impl.Bin,
			"LOG_LEVEL=verbose", "wg-quick", action, conf)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			out, _ := os.ReadFile(logPath)
			t.Fatalf("wg-quick %s: %v\n%s", action, err, out)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("wg-quick and %s output:\n%s", impl.Name, out)
		}
	})

	wgQuick("up")
	if pids := nsQ.PidsOf(impl.Bin); len(pids) != 1 {
		t.Fatalf("after wg-quick up: %d %s processes in the namespace, want 1", len(pids), impl.Name)
	}
	if got := nsQ.MustRun("cat", "/sys/class/net/"+iface+"/mtu"); got != "1380\n" {
		t.Errorf("MTU of %s = %q, want 1380", iface, got)
	}
	Ping(t, nsQ, "10.214.3.2", 3)
	Ping(t, nsQ, "fd00:214:3::2", 3)
	Ping(t, nsP, "10.214.3.1", 3)
	peer.WaitHandshake(qKey.Public, 5*time.Second)
	t.Logf("wg show %s:\n%s", iface, nsQ.MustRun("wg", "show", iface))

	wgQuick("down")
	Eventually(t, 5*time.Second, "wg-quick down to remove everything", func() (bool, string) {
		var left []string
		if _, err := nsQ.Run("ip", "link", "show", iface); err == nil {
			left = append(left, "interface "+iface)
		}
		if fileExists(SocketPath(iface)) {
			left = append(left, "socket "+SocketPath(iface))
		}
		if pids := nsQ.PidsOf(impl.Bin); len(pids) > 0 {
			left = append(left, fmt.Sprintf("%s pids %v", impl.Name, pids))
		}
		return len(left) == 0, fmt.Sprint(left)
	})
}
