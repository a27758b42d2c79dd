// SPDX-License-Identifier: MIT

// Command soaktool does the parts of bench/soak.sh that are awkward in a
// shell script: churning peers over the UAPI socket, flooding an interface
// with handshake initiations that pass MAC1, sampling a daemon's resource use
// and judging the samples at the end.
//
//	soaktool churn  -sock S -n 1000 -round R    remove round R-1's peers, add round R's
//	soaktool flood  -to ADDR:PORT -pub KEY -for 10s
//	soaktool sample -name A -pid P [-metrics URL]   one CSV row on standard output
//	soaktool report -csv FILE [-md FILE]         table and growth check; exit 1 on growth
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/blake2s"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: soaktool churn|flood|sample|report [flags]")
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "churn":
		err = churn(args)
	case "flood":
		err = flood(args)
	case "sample":
		err = sample(args)
	case "report":
		err = report(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soaktool:", err)
		os.Exit(1)
	}
}

// churnKey derives the public key of peer i of a churn round, so that the
// next round can remove exactly these peers without keeping any state. Any
// 32 bytes are accepted as a public key; these peers never handshake.
func churnKey(round, i int) [32]byte {
	return sha256.Sum256(fmt.Appendf(nil, "wgplex soak churn %d %d", round, i))
}

// churn sends one UAPI set request that removes the previous round's peers
// and adds this round's, each with one /32 in 10.250.0.0/16: one request,
// as a discovery system reconciling a fleet would send.
func churn(args []string) error {
	fs := flag.NewFlagSet("churn", flag.ExitOnError)
	sock := fs.String("sock", "", "UAPI socket of the interface")
	n := fs.Int("n", 1000, "peers per round (at most 65536)")
	round := fs.Int("round", 1, "round number; round-1's peers are removed")
	fs.Parse(args)
	if *n < 1 || *n > 65536 {
		return errors.New("-n must be from 1 to 65536")
	}
	var b strings.Builder
	b.WriteString("set=1\n")
	for i := range *n {
		if *round > 1 {
			k := churnKey(*round-1, i)
			fmt.Fprintf(&b, "public_key=%s\nremove=true\n", hex.EncodeToString(k[:]))
		}
	}
	for i := range *n {
		k := churnKey(*round, i)
		fmt.Fprintf(&b, "public_key=%s\nreplace_allowed_ips=true\nallowed_ip=10.250.%d.%d/32\n",
			hex.EncodeToString(k[:]), i/256, i%256)
	}
	b.WriteString("\n")
	return uapi(*sock, b.String())
}

// uapi sends one request and checks the errno of the reply.
func uapi(sock, req string) error {
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		return err
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "errno="); ok {
			if v != "0" {
				return fmt.Errorf("UAPI errno=%s", v)
			}
			return nil
		}
	}
	return fmt.Errorf("no errno in the UAPI reply: %v", sc.Err())
}

// flood sends handshake initiations with random contents and a valid MAC1
// for the target's public key: each one passes the cheap check and costs the
// target the work a real attacker can make it do (cookie replies under load,
// a failed DH otherwise).
func flood(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ExitOnError)
	to := fs.String("to", "", "target address:port")
	pub := fs.String("pub", "", "target's public key, base64")
	dur := fs.Duration("for", 10*time.Second, "how long to flood")
	fs.Parse(args)
	key, err := base64.StdEncoding.DecodeString(*pub)
	if err != nil || len(key) != 32 {
		return errors.New("-pub must be a base64 public key")
	}
	h, _ := blake2s.New256(nil)
	h.Write([]byte("mac1----"))
	h.Write(key)
	mac1Key := h.Sum(nil)
	c, err := net.Dial("udp", *to)
	if err != nil {
		return err
	}
	defer c.Close()
	msg := make([]byte, 148)
	sent := 0
	end := time.Now().Add(*dur)
	for time.Now().Before(end) {
		rand.Read(msg[4:116])
		binary.LittleEndian.PutUint32(msg, 1)
		m, _ := blake2s.New128(mac1Key)
		m.Write(msg[:116])
		copy(msg[116:132], m.Sum(nil))
		clear(msg[132:])
		// Errors are expected (ICMP refusals while the target restarts);
		// the flood goes on regardless.
		if _, err := c.Write(msg); err == nil {
			sent++
		}
	}
	fmt.Printf("%d initiations in %s\n", sent, *dur)
	return nil
}

// sample prints one CSV row: unix time, name, RSS (KiB), Go heap in use
// (bytes, from /metrics; -1 without), goroutines (-1 without), threads and
// open file descriptors.
func sample(args []string) error {
	fs := flag.NewFlagSet("sample", flag.ExitOnError)
	name := fs.String("name", "", "name of the daemon in the table")
	pid := fs.Int("pid", 0, "process id")
	url := fs.String("metrics", "", "its /metrics URL, if any")
	fs.Parse(args)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", *pid))
	if err != nil {
		return err
	}
	rss, threads := statusField(status, "VmRSS:"), statusField(status, "Threads:")
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", *pid))
	if err != nil {
		return err
	}
	heap, gor := int64(-1), int64(-1)
	if *url != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", *url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
				heap = parseFloat(v)
			} else if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
				gor = parseFloat(v)
			}
		}
	}
	fmt.Printf("%d,%s,%d,%d,%d,%d,%d\n", time.Now().Unix(), *name, rss, heap, gor, threads, len(fds))
	return nil
}

func statusField(status []byte, key string) int64 {
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return -1
}

func parseFloat(s string) int64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return -1
	}
	return int64(f)
}

// A metric of the CSV, its column and the absolute slack the growth check
// allows on top of the relative one (small absolute changes of a small
// figure are noise, not a leak).
var metricsCols = []struct {
	name  string
	col   int
	slack float64
}{
	{"rss_kib", 2, 16 << 10},
	{"heap_inuse_bytes", 3, 16 << 20},
	{"goroutines", 4, 64},
	{"threads", 5, 8},
	{"fds", 6, 8},
}

// report prints min/median/max per daemon and metric and fails if the
// median of the last third of the samples exceeds the median of the first
// third by more than half plus the slack: a leak grows steadily, so its last
// third sits well above its first, while a plateau reached early does not.
// The first sample (start-up) is left out.
func report(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	csvPath := fs.String("csv", "", "samples written by sample")
	mdPath := fs.String("md", "", "also write the table here (markdown)")
	every := fs.Int("curve", 5, "also print every Nth sample as a row of a curve table (0: none)")
	fs.Parse(args)
	data, err := os.ReadFile(*csvPath)
	if err != nil {
		return err
	}
	series := map[string][][]float64{} // daemon -> metric -> samples
	var names []string
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Split(line, ",")
		if len(f) != 7 || f[0] == "time" {
			continue
		}
		rows = append(rows, f)
		if _, ok := series[f[1]]; !ok {
			series[f[1]] = make([][]float64, len(metricsCols))
			names = append(names, f[1])
		}
		for m, mc := range metricsCols {
			v, err := strconv.ParseFloat(f[mc.col], 64)
			if err == nil && v >= 0 {
				series[f[1]][m] = append(series[f[1]][m], v)
			}
		}
	}
	var out strings.Builder
	out.WriteString("| daemon | metric | samples | min | median | max | first third (median) | last third (median) | verdict |\n")
	out.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	grew := false
	for _, n := range names {
		for m, mc := range metricsCols {
			s := series[n][m]
			if len(s) == 0 {
				continue
			}
			if len(s) > 1 {
				s = s[1:]
			}
			third := len(s) / 3
			verdict := "too few samples"
			var first, last float64
			if third >= 2 {
				first, last = median(s[:third]), median(s[len(s)-third:])
				verdict = "flat"
				if last > first*1.5+mc.slack {
					verdict = "GROWS"
					grew = true
				}
			}
			fmt.Fprintf(&out, "| %s | %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %s |\n",
				n, mc.name, len(s), minOf(s), median(s), maxOf(s), first, last, verdict)
		}
	}
	if *every > 0 && len(rows) > 0 {
		writeCurve(&out, rows, names, *every)
	}
	fmt.Print(out.String())
	if *mdPath != "" {
		if err := os.WriteFile(*mdPath, []byte(out.String()), 0o644); err != nil {
			return err
		}
	}
	if grew {
		return errors.New("a figure grows without bound (see GROWS above)")
	}
	return nil
}

func median(s []float64) float64 {
	c := append([]float64(nil), s...)
	sort.Float64s(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func minOf(s []float64) float64 {
	m := s[0]
	for _, v := range s {
		m = min(m, v)
	}
	return m
}

func maxOf(s []float64) float64 {
	m := s[0]
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// writeCurve prints every nth sampling round (and the last) as one row:
// minutes since the first sample, then RSS (MiB), heap (MiB), goroutines
// and fds of each daemon. A round is the run of samples up to the next
// sample of a daemon already in it (its samples may straddle a second).
func writeCurve(out *strings.Builder, rows [][]string, names []string, n int) {
	var rounds []map[string][]string
	for _, r := range rows {
		if len(rounds) == 0 || rounds[len(rounds)-1][r[1]] != nil {
			rounds = append(rounds, map[string][]string{})
		}
		rounds[len(rounds)-1][r[1]] = r
	}
	t0, _ := strconv.ParseInt(rows[0][0], 10, 64)
	fmt.Fprintf(out, "\nCurve (one row every %d samples, and the last; RSS and heap in MiB):\n\n| min |", n)
	for _, name := range names {
		fmt.Fprintf(out, " %s RSS | heap | gor. | fds |", name)
	}
	out.WriteString("\n|---|")
	for range names {
		out.WriteString("---|---|---|---|")
	}
	out.WriteString("\n")
	mib := func(s string, div float64) string {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", v/div)
	}
	for i, round := range rounds {
		if i%n != 0 && i != len(rounds)-1 {
			continue
		}
		var ts int64
		for _, r := range round {
			ts, _ = strconv.ParseInt(r[0], 10, 64)
			break
		}
		fmt.Fprintf(out, "| %.0f |", float64(ts-t0)/60)
		for _, name := range names {
			r := round[name]
			if r == nil {
				out.WriteString(" | | | |")
				continue
			}
			gor := r[4]
			if gor == "-1" {
				gor = "-"
			}
			fmt.Fprintf(out, " %s | %s | %s | %s |", mib(r[2], 1024), mib(r[3], 1<<20), gor, r[6])
		}
		out.WriteString("\n")
	}
}
