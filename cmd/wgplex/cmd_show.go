// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/config"
)

// show and showconf read an interface over the UAPI and print it in wg(8)'s
// formats, byte for byte: the pretty default (colored on a terminal only,
// peers sorted by latest handshake), one field per line for scripts, the
// tab-separated dump, and the configuration file layout.

// showFields are the field arguments of show, in the order wg's usage
// lists them.
var showFields = []string{"public-key", "private-key", "listen-port", "fwmark", "peers", "preshared-keys",
	"endpoints", "allowed-ips", "latest-handshakes", "transfer", "persistent-keepalive", "dump"}

func showUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s show { <interface> | all | interfaces } [%s]\n", progName, strings.Join(showFields, " | "))
}

// getDevice reads one interface's state.
func getDevice(ifname string) (core.Snapshot, error) {
	c, err := dialInterface(ifname)
	if err != nil {
		return core.Snapshot{}, err
	}
	defer c.Close()
	return c.Get()
}

func runShow(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "--json" {
		return runShowJSON(args[1:], stdout, stderr)
	}
	if len(args) > 2 {
		showUsage(stderr)
		return 1
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	color := colorMode(stdout)
	switch {
	case len(args) == 0 || args[0] == "all":
		names, err := listInterfaces()
		if err != nil {
			fmt.Fprintf(stderr, "Unable to list interfaces: %s\n", strerror(err))
			return 1
		}
		// As in wg: failure unless at least one interface could be shown.
		ret := 0
		if len(names) > 0 {
			ret = 1
		}
		for i, name := range names {
			s, states, err := getDeviceWithPlugins(name)
			if err != nil {
				w.Flush()
				fmt.Fprintf(stderr, "Unable to access interface %s: %s\n", name, strerror(err))
				continue
			}
			if len(args) == 2 {
				if !showField(w, stderr, name, s, args[1], true) {
					return 1
				}
			} else {
				prettyPrint(w, name, s, color, time.Now())
				prettyPlugins(w, states, color)
				if i < len(names)-1 {
					w.WriteString("\n")
				}
			}
			ret = 0
		}
		return ret
	case args[0] == "interfaces":
		if len(args) > 1 {
			showUsage(stderr)
			return 1
		}
		names, err := listInterfaces()
		if err != nil {
			fmt.Fprintf(stderr, "Unable to list interfaces: %s\n", strerror(err))
			return 1
		}
		if len(names) > 0 {
			fmt.Fprintln(w, strings.Join(names, " "))
		}
		return 0
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help"):
		showUsage(stderr)
		return 0
	}
	s, states, err := getDeviceWithPlugins(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "Unable to access interface: %s\n", strerror(err))
		return 1
	}
	if len(args) == 2 {
		if !showField(w, stderr, args[0], s, args[1], false) {
			return 1
		}
		return 0
	}
	prettyPrint(w, args[0], s, color, time.Now())
	prettyPlugins(w, states, color)
	return 0
}

func runShowConf(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, "Usage: %s showconf <interface>\n", progName)
		return 1
	}
	s, err := getDevice(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "Unable to access interface: %s\n", strerror(err))
		return 1
	}
	if err := config.FromSnapshot(s).Format(stdout); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", progName, err)
		return 1
	}
	return 0
}

// key is the base64 form of any key.
func key(k [32]byte) string { return config.FormatKey(k) }

// maybeKey is the key, or "(none)" when the interface does not have one.
func maybeKey(k [32]byte, have bool) string {
	if !have {
		return "(none)"
	}
	return key(k)
}

// maskedKey hides a secret in the pretty output unless WG_HIDE_KEYS=never.
func maskedKey(k [32]byte) string {
	if os.Getenv("WG_HIDE_KEYS") == "never" {
		return key(k)
	}
	return "(hidden)"
}

func endpointString(p *core.PeerSnapshot) string {
	if !p.Endpoint.IsValid() {
		return "(none)"
	}
	return config.FormatAddrPort(p.Endpoint)
}

func allowedIPs(p *core.PeerSnapshot, sep string) string {
	if len(p.AllowedIPs) == 0 {
		return "(none)"
	}
	parts := make([]string, len(p.AllowedIPs))
	for i, a := range p.AllowedIPs {
		parts[i] = config.FormatPrefix(a)
	}
	return strings.Join(parts, sep)
}

// handshakeSec is the handshake time in whole Unix seconds, 0 for never.
func handshakeSec(p *core.PeerSnapshot) int64 {
	if p.LastHandshake.IsZero() {
		return 0
	}
	return p.LastHandshake.Unix()
}

func fwmarkString(m uint32) string {
	if m == 0 {
		return "off"
	}
	return "0x" + strconv.FormatUint(uint64(m), 16)
}

func keepaliveString(k uint16) string {
	if k == 0 {
		return "off"
	}
	return strconv.Itoa(int(k))
}

// showField prints one field (or the dump) for scripts: tab-separated,
// prefixed by the interface name when showing all interfaces. It reports
// false, after printing the usage, for an unknown field.
func showField(w *bufio.Writer, stderr io.Writer, name string, s core.Snapshot, field string, withIface bool) bool {
	prefix := ""
	if withIface {
		prefix = name + "\t"
	}
	hasPriv := s.PrivateKey != nil
	var priv [32]byte
	if hasPriv {
		priv = *s.PrivateKey
		defer clear(priv[:])
	}
	switch field {
	case "public-key":
		fmt.Fprintf(w, "%s%s\n", prefix, maybeKey(s.PublicKey, hasPriv || !s.PublicKey.IsZero()))
	case "private-key":
		fmt.Fprintf(w, "%s%s\n", prefix, maybeKey(priv, hasPriv))
	case "listen-port":
		fmt.Fprintf(w, "%s%d\n", prefix, s.ListenPort)
	case "fwmark":
		fmt.Fprintf(w, "%s%s\n", prefix, fwmarkString(s.FwMark))
	case "endpoints", "allowed-ips", "latest-handshakes", "transfer", "persistent-keepalive", "preshared-keys", "peers":
		for i := range s.Peers {
			p := &s.Peers[i]
			var v string
			switch field {
			case "endpoints":
				v = endpointString(p)
			case "allowed-ips":
				v = allowedIPs(p, " ")
			case "latest-handshakes":
				v = strconv.FormatInt(handshakeSec(p), 10)
			case "transfer":
				v = fmt.Sprintf("%d\t%d", p.RxBytes, p.TxBytes)
			case "persistent-keepalive":
				v = keepaliveString(p.PersistentKeepalive)
			case "preshared-keys":
				v = maybeKey(p.PresharedKey, !p.PresharedKey.IsZero())
			case "peers":
				fmt.Fprintf(w, "%s%s\n", prefix, key(p.PublicKey))
				continue
			}
			fmt.Fprintf(w, "%s%s\t%s\n", prefix, key(p.PublicKey), v)
		}
	case "dump":
		fmt.Fprintf(w, "%s%s\t%s\t%d\t%s\n", prefix, maybeKey(priv, hasPriv), maybeKey(s.PublicKey, hasPriv || !s.PublicKey.IsZero()),
			s.ListenPort, fwmarkString(s.FwMark))
		for i := range s.Peers {
			p := &s.Peers[i]
			fmt.Fprintf(w, "%s%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", prefix, key(p.PublicKey),
				maybeKey(p.PresharedKey, !p.PresharedKey.IsZero()), endpointString(p), allowedIPs(p, ","),
				handshakeSec(p), p.RxBytes, p.TxBytes, keepaliveString(p.PersistentKeepalive))
		}
	default:
		w.Flush()
		fmt.Fprintf(stderr, "Invalid parameter: `%s'\n", field)
		showUsage(stderr)
		return false
	}
	return true
}

// Terminal escape sequences of the pretty output.
const (
	termReset  = "\x1b[0m"
	termBold   = "\x1b[1m"
	termRed    = "\x1b[31m"
	termGreen  = "\x1b[32m"
	termYellow = "\x1b[33m"
	termCyan   = "\x1b[36m"
)

// painter writes text with escape sequences kept on a terminal and
// dropped otherwise, which gives wg's plain output exactly.
type painter struct {
	w     *bufio.Writer
	color bool
}

// printf writes format with args; in format, "\x1b[...m" sequences are
// colors. Arguments never carry escape sequences.
func (p painter) printf(format string, args ...any) {
	if !p.color {
		format = stripEscapes(format)
	}
	fmt.Fprintf(p.w, format, args...)
}

func stripEscapes(s string) string {
	if !strings.Contains(s, "\x1b[") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\x1b' && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && !isAlpha(s[j]) {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isAlpha(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

// prettyPrint is show's default output, with now as the time handshakes
// are measured against.
func prettyPrint(w *bufio.Writer, name string, s core.Snapshot, color bool, now time.Time) {
	p := painter{w: w, color: color}
	p.printf(termReset)
	p.printf(termGreen+termBold+"interface"+termReset+": "+termGreen+"%s"+termReset+"\n", name)
	if s.PrivateKey != nil {
		p.printf("  "+termBold+"public key"+termReset+": %s\n", key(s.PublicKey))
		p.printf("  "+termBold+"private key"+termReset+": %s\n", maskedKey(*s.PrivateKey))
	} else if !s.PublicKey.IsZero() {
		// A key vault is in charge: the daemon reports the public key only.
		p.printf("  "+termBold+"public key"+termReset+": %s\n", key(s.PublicKey))
		p.printf("  " + termBold + "private key" + termReset + ": (held by a key vault)\n")
	}
	if s.ListenPort != 0 {
		p.printf("  "+termBold+"listening port"+termReset+": %d\n", s.ListenPort)
	}
	if s.FwMark != 0 {
		p.printf("  "+termBold+"fwmark"+termReset+": 0x%x\n", s.FwMark)
	}
	peers := make([]*core.PeerSnapshot, len(s.Peers))
	for i := range s.Peers {
		peers[i] = &s.Peers[i]
	}
	if len(peers) > 0 {
		sortPeers(peers)
		p.printf("\n")
	}
	for i, peer := range peers {
		p.printf(termYellow+termBold+"peer"+termReset+": "+termYellow+"%s"+termReset+"\n", key(peer.PublicKey))
		if !peer.PresharedKey.IsZero() {
			p.printf("  "+termBold+"preshared key"+termReset+": %s\n", maskedKey(peer.PresharedKey))
		}
		if peer.Endpoint.IsValid() {
			p.printf("  "+termBold+"endpoint"+termReset+": %s\n", endpointString(peer))
		}
		p.printf("  " + termBold + "allowed ips" + termReset + ": ")
		if len(peer.AllowedIPs) == 0 {
			p.printf("(none)\n")
		}
		for j, a := range peer.AllowedIPs {
			sep := ", "
			if j == len(peer.AllowedIPs)-1 {
				sep = "\n"
			}
			p.printf("%s"+termCyan+"/"+termReset+"%d%s", config.FormatAddr(a.Addr()), a.Bits(), sep)
		}
		if sec := handshakeSec(peer); sec != 0 {
			p.printf("  "+termBold+"latest handshake"+termReset+": %s\n", ago(p, sec, now.Unix()))
		}
		if peer.RxBytes != 0 || peer.TxBytes != 0 {
			p.printf("  " + termBold + "transfer" + termReset + ": ")
			p.printf("%s received, ", bytesString(p, peer.RxBytes))
			p.printf("%s sent\n", bytesString(p, peer.TxBytes))
		}
		if peer.PersistentKeepalive != 0 {
			p.printf("  "+termBold+"persistent keepalive"+termReset+": %s\n", "every "+prettyTime(p, uint64(peer.PersistentKeepalive)))
		}
		if i < len(peers)-1 {
			p.printf("\n")
		}
	}
}

// sortPeers orders peers as wg's pretty output does: most recent
// handshake first, peers that never completed one last, ties in the order
// the daemon gave (wg's sort is stable).
func sortPeers(peers []*core.PeerSnapshot) {
	never := func(p *core.PeerSnapshot) bool { return p.LastHandshake.IsZero() }
	sort.SliceStable(peers, func(i, j int) bool {
		a, b := peers[i], peers[j]
		if never(a) || never(b) {
			return !never(a) && never(b)
		}
		return a.LastHandshake.After(b.LastHandshake)
	})
}

// prettyTime writes a duration as wg does: "1 year, 2 days, 1 minute, 5
// seconds", zero units left out, the unit words colored.
func prettyTime(p painter, secs uint64) string {
	units := []struct {
		name string
		size uint64
	}{{"year", 365 * 24 * 60 * 60}, {"day", 24 * 60 * 60}, {"hour", 60 * 60}, {"minute", 60}, {"second", 1}}
	var parts []string
	for _, u := range units {
		n := secs / u.size
		secs %= u.size
		if n == 0 {
			continue
		}
		plural := "s"
		if n == 1 {
			plural = ""
		}
		parts = append(parts, p.paint(strconv.FormatUint(n, 10)+" "+termCyan+u.name+plural+termReset))
	}
	return strings.Join(parts, ", ")
}

// paint applies the painter's color choice to a string built with
// escape sequences.
func (p painter) paint(s string) string {
	if p.color {
		return s
	}
	return stripEscapes(s)
}

// ago is how long ago a handshake was, as wg words it.
func ago(p painter, sec, now int64) string {
	switch {
	case now == sec:
		return "Now"
	case now < sec:
		return p.paint("(" + termRed + "System clock wound backward; connection problems may ensue." + termReset + ")")
	}
	return prettyTime(p, uint64(now-sec)) + " ago"
}

// bytesString is a byte count with a binary unit, as wg prints transfer.
func bytesString(p painter, b uint64) string {
	const k = 1024
	switch {
	case b < k:
		return p.paint(fmt.Sprintf("%d "+termCyan+"B"+termReset, b))
	case b < k*k:
		return p.paint(fmt.Sprintf("%.2f "+termCyan+"KiB"+termReset, float64(b)/k))
	case b < k*k*k:
		return p.paint(fmt.Sprintf("%.2f "+termCyan+"MiB"+termReset, float64(b)/(k*k)))
	case b < k*k*k*k:
		return p.paint(fmt.Sprintf("%.2f "+termCyan+"GiB"+termReset, float64(b)/(k*k*k)))
	}
	return p.paint(fmt.Sprintf("%.2f "+termCyan+"TiB"+termReset, float64(b)/(k*k*k)/k))
}
