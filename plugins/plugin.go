// SPDX-License-Identifier: MIT

package plugins

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wgplex/wgplex/plugins/internal/starterr"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// Defaults for the zero values of Config.
const (
	DefaultStartTimeout   = 10 * time.Second
	DefaultCallTimeout    = 2 * time.Second
	DefaultHealthInterval = 5 * time.Second
	DefaultMinBackoff     = 200 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
)

// exitPollInterval is how often the supervisor looks whether the plugin
// process has ended. go-plugin reaps the process and only offers a flag,
// so this bounds how long a dead plugin goes unnoticed when no call trips
// over it first.
const exitPollInterval = 100 * time.Millisecond

// healthFailures is how many health checks in a row must fail before a
// plugin that is still running is killed and restarted.
const healthFailures = 2

// ErrPluginDown is returned (wrapped) by calls made while the plugin is not
// running: before its first start succeeded, between a crash and the
// restart, or after Close.
var ErrPluginDown = errors.New("plugin is not running")

// Config describes a plugin to launch and supervise.
type Config struct {
	// Name labels the plugin in logs and metrics; the command's base name
	// if empty.
	Name string
	// Kind is the plugin kind to dispense (sdk.KindKeyVault, ...).
	Kind string
	// Command is the plugin's argv. A Command[0] without a path separator
	// is looked up in SearchDirs, then in PATH, once, at Start; the absolute
	// path found is logged and is what runs at every launch.
	Command []string
	// SearchDirs are the directories searched for Command[0] before PATH
	// (the daemon passes /usr/lib/wgplex/plugins and its own directory).
	SearchDirs []string
	// resolved is set once Command[0] is the absolute path to run.
	resolved bool
	// PassEnv names the variables of the daemon's environment the plugin
	// gets (a name ending in '*' is a prefix), besides PATH, HOME, TMPDIR,
	// TZ, LANG and LC_ALL; nil is DefaultPassEnv for the kind.
	PassEnv []string
	// Env are further "NAME=value" entries for the plugin. Nothing else of
	// the daemon's environment reaches it.
	Env []string
	// SHA256, if set, pins the plugin binary: a launch of a file with
	// another checksum fails (go-plugin's SecureConfig).
	SHA256 []byte
	// User, if set, runs the plugin as this user (a name, or uid[:gid]),
	// without supplementary groups and, started by root, without
	// capabilities (Linux only). The file key vault and the etcd plugin
	// need no root.
	User string
	// Logger receives the host's messages about the plugin and everything
	// the plugin logs; nil discards them.
	Logger *slog.Logger
	// Metrics, if set, records up/restarts/call durations.
	Metrics *Metrics

	// StartTimeout bounds the launch and go-plugin handshake.
	StartTimeout time.Duration
	// CallTimeout bounds every call made through Call.
	CallTimeout time.Duration
	// HealthInterval is the period of health checks.
	HealthInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait before a restart; the wait
	// doubles after each failed start and resets once a plugin has run for
	// longer than MaxBackoff.
	MinBackoff, MaxBackoff time.Duration

	// OnStart runs after every successful launch, before calls are let
	// through; an error makes the launch count as failed. A key vault uses
	// it to check the public key.
	OnStart func(ctx context.Context, impl any) error
	// HealthCheck replaces the default health check (go-plugin's gRPC
	// health service).
	HealthCheck func(ctx context.Context, impl any) error
	// GRPCDialOptions are added to the connection to the plugin, e.g. an
	// interceptor that records calls.
	GRPCDialOptions []grpc.DialOption

	path     string // Command[0] resolved
	uid, gid uint32 // User resolved
	// Reattach, if set, connects to a plugin started by hand (under a
	// debugger, see sdk.ServeDebug) instead of launching Command. The
	// daemon neither kills nor stops such a plugin.
	Reattach *plugin.ReattachConfig
	// Versions are the plugin protocol versions the daemon offers, each
	// with the kinds it can dispense in that version; the plugin picks the
	// newest it serves. Nil means sdk.VersionedPluginMap().
	Versions map[int]plugin.PluginSet
}

func (c *Config) setDefaults() error {
	if len(c.Command) == 0 || c.Command[0] == "" {
		return errors.New("plugin: empty command")
	}
	if c.Kind == "" {
		return errors.New("plugin: no kind")
	}
	if c.Name == "" {
		c.Name = filepath.Base(c.Command[0])
	}
	if c.PassEnv == nil {
		c.PassEnv = DefaultPassEnv[c.Kind]
	}
	if c.SHA256 != nil && len(c.SHA256) != sha256.Size {
		return errors.New("plugin: SHA256 is not 32 bytes")
	}
	if c.User != "" {
		var err error
		if c.uid, c.gid, err = lookupUser(c.User); err != nil {
			return fmt.Errorf("plugin %s: user %q: %w", c.Name, c.User, err)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	// A plugin reattached to runs no file of ours: nothing to look up.
	if c.Reattach == nil {
		if err := c.resolveCommand(); err != nil {
			return err
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.StartTimeout, DefaultStartTimeout)
	def(&c.CallTimeout, DefaultCallTimeout)
	def(&c.HealthInterval, DefaultHealthInterval)
	def(&c.MinBackoff, DefaultMinBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	if c.Versions == nil {
		c.Versions = sdk.VersionedPluginMap()
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	return nil
}

// Plugin is one supervised plugin process. It is restarted whenever it
// exits or stops answering health checks, until Close.
type Plugin struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	client   *plugin.Client // nil while down
	rpc      plugin.ClientProtocol
	impl     any
	pid      int
	sockDir  string // the running plugin's socket directory
	proto    int    // the protocol version it negotiated
	lastErr  string // for State
	started  time.Time
	stopping bool

	restarts    atomic.Uint64
	failedCalls atomic.Uint64 // since the last "Plugin call failed" line
	lastCallLog atomic.Int64  // UnixNano of that line
	kick        chan struct{}
	done        chan struct{}
	loopDone    chan struct{}
}

// Start launches the plugin and returns once it has answered the go-plugin
// handshake and cfg.OnStart; a plugin that fails to start the first time
// is an error (a wrong path, a wrong protocol version, a missing key), not
// something to retry forever. After that the plugin is supervised.
func Start(cfg Config) (*Plugin, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	p := &Plugin{
		cfg:      cfg,
		log:      cfg.Logger.With("plugin", cfg.Name, "kind", cfg.Kind),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	cfg.Metrics.register(cfg.Name, cfg.Kind)
	if err := p.launch(); err != nil {
		return nil, err
	}
	go p.supervise()
	return p, nil
}

// Name is the plugin's label.
func (p *Plugin) Name() string { return p.cfg.Name }

// Pid is the process id of the running plugin, 0 while it is down.
func (p *Plugin) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// Up reports whether the plugin is running and taking calls.
func (p *Plugin) Up() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.client != nil
}

// Restarts is how many times the plugin was launched again after dying.
func (p *Plugin) Restarts() uint64 { return p.restarts.Load() }

// Call runs fn against the plugin's dispensed value with the call timeout,
// records its duration under method, and, when it fails, has the
// supervisor check the plugin at once rather than at the next tick.
func (p *Plugin) Call(method string, fn func(ctx context.Context, impl any) error) error {
	return p.call(method, fn, true)
}

func (p *Plugin) call(method string, fn func(ctx context.Context, impl any) error, kick bool) error {
	p.mu.Lock()
	impl := p.impl
	p.mu.Unlock()
	if impl == nil {
		err := fmt.Errorf("plugin %s: %w", p.cfg.Name, ErrPluginDown)
		p.cfg.Metrics.count(p.cfg.Name, method, err)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.CallTimeout)
	defer cancel()
	start := time.Now()
	err := fn(ctx, impl)
	p.cfg.Metrics.observe(p.cfg.Name, method, time.Since(start), err)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (no answer within %v)", err, p.cfg.CallTimeout)
		}
		err = fmt.Errorf("plugin %s: %s: %w", p.cfg.Name, method, err)
		p.noteError(err)
		if kick {
			p.logCallFailure(method, err)
			select {
			case p.kick <- struct{}{}:
			default:
			}
		}
		return err
	}
	return nil
}

// callLogInterval rate-limits the log of failed calls: a hung vault fails
// every handshake attempt of every peer, and one line a second says it.
const callLogInterval = time.Second

// logCallFailure logs a failed call, at most once per callLogInterval,
// with the number of failures it stood for.
func (p *Plugin) logCallFailure(method string, err error) {
	p.failedCalls.Add(1)
	now := time.Now().UnixNano()
	last := p.lastCallLog.Load()
	if now-last < int64(callLogInterval) || !p.lastCallLog.CompareAndSwap(last, now) {
		return
	}
	p.log.Error("Plugin call failed", "method", method, "err", err, "failures", p.failedCalls.Swap(0))
}

// Close stops supervising and stops the plugin: asked politely first
// (go-plugin gives it two seconds), then killed together with its process
// group.
func (p *Plugin) Close() error {
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		<-p.loopDone
		return nil
	}
	p.stopping = true
	p.mu.Unlock()
	close(p.done)
	<-p.loopDone
	p.takeDown()
	p.log.Info("Plugin stopped")
	return nil
}

// launch starts a plugin process and, if everything checks out, makes it
// the current one.
func (p *Plugin) launch() error {
	sockDir, err := newSocketDir(p.cfg.Name)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", p.cfg.Name, err)
	}
	cmd := exec.Command(p.cfg.path, p.cfg.Command[1:]...)
	cmd.Args[0] = p.cfg.Command[0]
	cmd.Env = append(pluginEnv(os.Environ(), p.cfg.PassEnv, p.cfg.Env), plugin.EnvUnixSocketDir+"="+sockDir)
	isolate(cmd)
	if p.cfg.User != "" {
		if err := runAs(cmd, p.cfg.uid, p.cfg.gid); err != nil {
			os.RemoveAll(sockDir)
			return fmt.Errorf("plugin %s: %w", p.cfg.Name, err)
		}
		// The plugin creates its socket in this directory, so it must be
		// the plugin user's; it stays 0700, and the daemon (root) can
		// still connect to the socket and remove the directory.
		if err := os.Chown(sockDir, int(p.cfg.uid), int(p.cfg.gid)); err != nil {
			os.RemoveAll(sockDir)
			return fmt.Errorf("plugin %s: socket directory: %w", p.cfg.Name, err)
		}
	}
	tail := &tailWriter{max: 2048}
	var secure *plugin.SecureConfig
	if p.cfg.SHA256 != nil {
		secure = &plugin.SecureConfig{Checksum: p.cfg.SHA256, Hash: sha256.New()}
	}
	client := plugin.NewClient(p.reattach(&plugin.ClientConfig{
		SecureConfig:     secure,
		SkipHostEnv:      true,
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: p.cfg.Versions,
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Managed:          true,
		StartTimeout:     p.cfg.StartTimeout,
		Logger:           newHCLogAdapter(p.log),
		Stderr:           tail,
		GRPCDialOptions:  p.cfg.GRPCDialOptions,
	}))
	fail := func(err error) error {
		pid := p.ownedPid(client)
		client.Kill()
		killGroup(pid)
		os.RemoveAll(sockDir)
		return fmt.Errorf("plugin %s (%s): %w", p.cfg.Name, strings.Join(p.cfg.Command, " "), tail.explain(err))
	}
	rpc, err := client.Client()
	if err != nil {
		return fail(err)
	}
	raw, err := rpc.Dispense(p.cfg.Kind)
	if err != nil {
		return fail(fmt.Errorf("dispense %q: %w", p.cfg.Kind, err))
	}
	if p.cfg.OnStart != nil {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.CallTimeout)
		err := p.cfg.OnStart(ctx, raw)
		cancel()
		if err != nil {
			return fail(err)
		}
	}
	pid := p.ownedPid(client)
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		client.Kill()
		killGroup(pid)
		os.RemoveAll(sockDir)
		return fmt.Errorf("plugin %s: %w", p.cfg.Name, ErrPluginDown)
	}
	p.client, p.rpc, p.impl, p.pid, p.started = client, rpc, raw, pid, time.Now()
	p.sockDir = sockDir
	p.proto = client.NegotiatedVersion()
	p.mu.Unlock()
	p.cfg.Metrics.setUp(p.cfg.Name, p.cfg.Kind, true)
	p.log.Info("Plugin started", "pid", pid, "protocol", client.NegotiatedVersion())
	return nil
}

// takeDown makes the plugin unavailable to callers and ends its process.
func (p *Plugin) takeDown() {
	p.mu.Lock()
	client, pid, sockDir := p.client, p.pid, p.sockDir
	p.client, p.rpc, p.impl, p.pid, p.sockDir, p.proto = nil, nil, nil, 0, "", 0
	p.mu.Unlock()
	p.cfg.Metrics.setUp(p.cfg.Name, p.cfg.Kind, false)
	if client != nil {
		client.Kill()
	}
	killGroup(pid)
	if sockDir != "" {
		os.RemoveAll(sockDir)
	}
}

// supervise watches the running plugin and restarts it when it dies or
// stops answering.
func (p *Plugin) supervise() {
	defer close(p.loopDone)
	poll := time.NewTicker(exitPollInterval)
	defer poll.Stop()
	health := time.NewTicker(p.cfg.HealthInterval)
	defer health.Stop()
	backoff := p.cfg.MinBackoff
	failures := 0
	for {
		var why string
		select {
		case <-p.done:
			return
		case <-poll.C:
			if p.exited() {
				why = "plugin process exited"
			}
		case <-p.kick:
			if p.exited() {
				why = "plugin process exited"
			} else if err := p.healthCheck(); err != nil {
				failures++
				p.log.Warn("Plugin health check failed after a failed call", "err", err, "failures", failures)
			} else {
				failures = 0
			}
		case <-health.C:
			if err := p.healthCheck(); err != nil {
				failures++
				p.log.Warn("Plugin health check failed", "err", err, "failures", failures)
			} else {
				failures = 0
			}
		}
		if why == "" && failures >= healthFailures {
			why = fmt.Sprintf("%d health checks failed in a row", failures)
		}
		if why == "" {
			continue
		}
		failures = 0
		p.mu.Lock()
		uptime := time.Since(p.started)
		p.mu.Unlock()
		if uptime > p.cfg.MaxBackoff {
			backoff = p.cfg.MinBackoff
		}
		p.noteError(errors.New(why))
		p.log.Error("Plugin down, restarting", "reason", why, "backoff", backoff)
		p.takeDown()
		if !p.restart(&backoff) {
			return
		}
	}
}

// restart relaunches the plugin until it comes up or Close is called,
// doubling the wait after every failure. It reports false on Close.
func (p *Plugin) restart(backoff *time.Duration) bool {
	for {
		t := time.NewTimer(*backoff)
		select {
		case <-p.done:
			t.Stop()
			return false
		case <-t.C:
		}
		*backoff = min(*backoff*2, p.cfg.MaxBackoff)
		p.restarts.Add(1)
		p.cfg.Metrics.restarted(p.cfg.Name, p.cfg.Kind)
		err := p.launch()
		if err == nil {
			p.log.Warn("Plugin restarted", "restarts", p.restarts.Load())
			// Drop a kick left by calls that failed while it was down.
			select {
			case <-p.kick:
			default:
			}
			return true
		}
		p.noteError(err)
		p.log.Error("Plugin restart failed", "err", err, "next_attempt_in", *backoff)
	}
}

func (p *Plugin) exited() bool {
	p.mu.Lock()
	c := p.client
	p.mu.Unlock()
	return c == nil || c.Exited()
}

func (p *Plugin) healthCheck() error {
	if p.cfg.HealthCheck != nil {
		return p.call("HealthCheck", p.cfg.HealthCheck, false)
	}
	p.mu.Lock()
	rpc := p.rpc
	p.mu.Unlock()
	if rpc == nil {
		return ErrPluginDown
	}
	start := time.Now()
	err := rpc.Ping()
	p.cfg.Metrics.observe(p.cfg.Name, "Ping", time.Since(start), err)
	return err
}

// tailWriter keeps the last bytes a plugin wrote to stderr, so that a
// failed start can say what the plugin said before it died.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(b), nil
}

// explain turns a failed start into one readable line: go-plugin's
// message (its first line; the rest is a generic checklist), what the
// plugin last wrote to stderr, and a hint for the one failure go-plugin
// cannot name, a magic cookie mismatch.
func (w *tailWriter) explain(err error) error {
	w.mu.Lock()
	s := strings.TrimSpace(string(w.buf))
	w.mu.Unlock()
	msg, _, _ := strings.Cut(err.Error(), "\n")
	msg = strings.TrimSpace(msg)
	if line, ok := strings.CutPrefix(msg, "Unrecognized remote plugin message:"); ok {
		msg = starterr.BadHandshakeLine(line)
	} else if strings.HasPrefix(msg, "incompatible API version") {
		msg = starterr.IncompatibleVersion(msg)
	}
	if strings.Contains(s, "This binary is a plugin") {
		msg = "magic cookie mismatch: not a wgplex plugin, or built for another plugin host"
	}
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		// go-plugin's own debug chatter says nothing about the failure.
		if l == "" || strings.HasPrefix(l, `{"@level":"debug"`) || strings.HasPrefix(l, `{"@level":"trace"`) {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) > 0 {
		msg += "; plugin stderr: " + strings.Join(lines, " | ")
	}
	// Keep err in the chain (errors.Is on ErrBadReply, ErrNoKey, ...)
	// without repeating a multi-line text.
	return &startError{msg: msg, err: err}
}

// startError is a failed plugin start: a one-line message that wraps the
// underlying error.
type startError struct {
	msg string
	err error
}

func (e *startError) Error() string { return e.msg }
func (e *startError) Unwrap() error { return e.err }
