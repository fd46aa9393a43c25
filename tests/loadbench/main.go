// Command loadbench measures what pushguard costs on the write path. It
// starts an upstream (a stub, or a real Mimir), a bare
// httputil.ReverseProxy and the real pushguard binary, each in its own
// process on loopback, drives the same remote-write load through each in
// one run and prints samples/s, the ratio to the bare proxy and p50/p99
// latency.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/pushguard/pushguard/tests/e2e"
)

func main() {
	var (
		mode      = flag.String("mode", "drive", "drive, or (internal) stub / proxy / reencode")
		listen    = flag.String("listen", "127.0.0.1:0", "listen address in stub and proxy mode")
		target    = flag.String("target", "", "upstream URL in proxy mode")
		binary    = flag.String("pushguard", "./pushguard", "pushguard binary to measure")
		senders   = flag.Int("senders", 8, "concurrent senders")
		duration  = flag.Duration("duration", 10*time.Second, "load duration per target and scenario")
		rounds    = flag.Int("rounds", 5, "slices each target's duration is cut into, the targets taking turns, so that the machine changing speed during the run weighs on all of them alike")
		seriesN   = flag.Int("series", 2000, "series per request")
		bodies    = flag.Int("bodies", 64, "distinct request bodies per scenario")
		dupsFlag  = flag.String("duplicates", "0,0.001,0.05", "duplicate fractions to measure")
		churn     = flag.Bool("duplicates.churn", false, "repeat other series in every body, so that nearly every offender is new to pushguard's report (a storm), instead of the same series in every scrape as a misbehaving exporter sends them")
		actions   = flag.String("actions", "report,keep-first", "pushguard actions to measure")
		extraArgs = flag.String("pushguard.args", "", "extra flags for pushguard, space separated")
		profile   = flag.String("cpuprofile", "", "write a CPU profile of pushguard under the first scenario with duplicates and -cpuprofile.action to this file")
		profAct   = flag.String("cpuprofile.action", "keep-first", "the action the CPU profile is taken under")
		rate      = flag.Float64("rate", 100, "requests a second of the steady-load latency runs, taken on fresh pushguard instances before the closed-loop runs; 0 skips them")
		upstreams = flag.String("upstreams", "discard,decode", "upstreams to measure behind: the stubs discard (reads and drops the bytes) and decode (decompresses and unmarshals every push, as a distributor does first), and mimir (a real Mimir, see -mimir); the CPU profile is taken behind the first")
		mimirBin  = flag.String("mimir", "", "the Mimir binary the mimir upstream runs (make mimir builds one)")
		stubKind  = flag.String("stub", "discard", "(internal) what the stub upstream does with a push: decode or discard")
	)
	flag.Parse()
	switch *mode {
	case "stub":
		h, err := stubHandler(*stubKind)
		if err != nil {
			fatal(err)
		}
		serve(*listen, h)
	case "proxy":
		u, err := url.Parse(*target)
		if err != nil {
			fatal(err)
		}
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 100, MaxIdleConns: 200}
		serve(*listen, rp)
	case "reencode":
		serve(*listen, newReencodeProxy(*target))
	case "drive":
		cfg := driveConfig{
			binary: *binary, senders: *senders, duration: *duration, rounds: *rounds, series: *seriesN,
			bodies: *bodies, duplicates: parseFloats(*dupsFlag), actions: strings.Split(*actions, ","),
			extraArgs: strings.Fields(*extraArgs), profile: *profile, profileAction: *profAct, rate: *rate, upstreams: strings.Split(*upstreams, ","),
			churn: *churn, mimir: *mimirBin, start: time.Now().Add(-20 * time.Minute).Truncate(time.Minute),
		}
		if err := drive(cfg); err != nil {
			fatal(err)
		}
	default:
		fatal(fmt.Errorf("unknown -mode %q", *mode))
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "loadbench:", err)
	os.Exit(1)
}

// serve listens, prints the address on stdout for the driver, and serves.
func serve(addr string, h http.Handler) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fatal(err)
	}
	fmt.Println(l.Addr().String())
	fatal(http.Serve(l, h))
}

type driveConfig struct {
	binary     string
	senders    int
	duration   time.Duration
	rounds     int
	series     int
	bodies     int
	duplicates []float64
	actions    []string
	extraArgs  []string
	profile    string
	// profileAction is the action the profile is taken under.
	profileAction string
	upstreams     []string
	// rate is the request rate of the steady-load latency runs; 0 skips
	// them.
	rate float64
	// churn draws the repeated series anew for every body.
	churn bool
	// mimir is the Mimir binary the mimir upstream runs.
	mimir string
	// start is the timestamp of every load's first body: recent enough
	// for Mimir to take.
	start time.Time
	// firstPushAlone sends each new tenant's first push before the
	// others of its pass (see endpoint).
	firstPushAlone bool
}

func drive(cfg driveConfig) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("machine: %d CPUs, %d senders, %d series a request, %s per target in %d turns\n", runtime.NumCPU(), cfg.senders, cfg.series, cfg.duration, max(cfg.rounds, 1))
	profiled := false
	for _, kind := range cfg.upstreams {
		if kind != "mimir" {
			if err := driveUpstream(self, kind, cfg, &profiled); err != nil {
				return err
			}
			continue
		}
		// The tenants a rate's runs leave in Mimir make it slower for
		// the next: each rate gets a fresh one.
		for _, dup := range cfg.duplicates {
			one := cfg
			one.duplicates = []float64{dup}
			if err := driveUpstream(self, kind, one, &profiled); err != nil {
				return err
			}
		}
	}
	return nil
}

// helper is a process of this binary in a helper mode: a stub upstream or
// a proxy.
type helper struct {
	cmd  *exec.Cmd
	addr string
}

func (h helper) url() string { return "http://" + h.addr + "/api/v1/push" }

// driveUpstream measures every target in front of one kind of stub
// upstream.
func driveUpstream(self, kind string, cfg driveConfig, profiled *bool) error {
	stub, what, stopStub, err := startUpstream(self, kind, cfg)
	if err != nil {
		return err
	}
	defer stopStub()
	var proxy, reencode helper
	// The reverse proxy appends the request's path to its target's.
	if proxy.cmd, proxy.addr, err = startHelper(self, "-mode=proxy", "-target=http://"+stub.addr); err != nil {
		return err
	}
	defer stop(proxy.cmd)
	if reencode.cmd, reencode.addr, err = startHelper(self, "-mode=reencode", "-target="+stub.url()); err != nil {
		return err
	}
	defer stop(reencode.cmd)

	fmt.Printf("\nupstream: %s\n", what)
	cfg.firstPushAlone = kind == "mimir"
	for _, dup := range cfg.duplicates {
		if err := driveScenario(dup, stub, proxy, reencode, cfg, profiled); err != nil {
			return err
		}
	}
	return nil
}

// startUpstream starts the upstream of a kind: a stub (this binary in
// stub mode) or a Mimir. It returns the upstream, what it is, in words, and
// what stops it.
func startUpstream(self, kind string, cfg driveConfig) (helper, string, func(), error) {
	if kind == "mimir" {
		h, stop, err := startMimir(cfg.mimir)
		return h, fmt.Sprintf("a fresh Mimir (%s)", cfg.mimir), stop, err
	}
	var h helper
	var err error
	if h.cmd, h.addr, err = startHelper(self, "-mode=stub", "-stub="+kind); err != nil {
		return h, "", nil, err
	}
	return h, kind + " stub", func() { stop(h.cmd) }, nil
}

// driveScenario measures every target at one rate of duplicates, in front
// of the stub: first the latency at a steady rate (pushguard fresh), then
// the throughput of a closed loop.
func driveScenario(dup float64, stub, proxy, reencode helper, cfg driveConfig, profiled *bool) error {
	load := newLoad(cfg.series, cfg.bodies, dup, cfg.churn, cfg.start)
	named := func(what string) string { return fmt.Sprintf("%s, %.1f%% dup", what, dup*100) }
	bareName := named("bare reverse proxy")
	type instance struct {
		p      *e2e.Process
		addr   string
		action string
		ep     *endpoint
	}
	var pgs []instance
	defer func() {
		for _, pg := range pgs {
			pg.p.Stop()
		}
	}()
	for _, action := range cfg.actions {
		p, addr, err := startPushguard(cfg.binary, stub.url(), action, cfg.extraArgs)
		if err != nil {
			return err
		}
		ep := newEndpoint("http://"+addr+"/api/v1/push", p.Cmd.Process.Pid, stub.cmd.Process.Pid, cfg)
		pgs = append(pgs, instance{p, addr, action, ep})
	}
	bareEP := newEndpoint(proxy.url(), proxy.cmd.Process.Pid, stub.cmd.Process.Pid, cfg)

	// Latency at a steady load first, while pushguard holds what a steady
	// load gives it: the closed-loop runs fill its record and report with
	// over a hundred tenants.
	var paced []*target
	if cfg.rate > 0 {
		paced = append(paced, newTarget(bareName, bareEP))
		for _, pg := range pgs {
			paced = append(paced, newTarget(named("pushguard "+pg.action), pg.ep))
		}
		measure(paced, load, cfg, cfg.rate)
	}

	closed := []*target{
		newTarget(named("direct to upstream"), newEndpoint(stub.url(), stub.cmd.Process.Pid, stub.cmd.Process.Pid, cfg)),
		newTarget(bareName, bareEP),
		newTarget(named("gogo re-encoding proxy"), newEndpoint(reencode.url(), reencode.cmd.Process.Pid, stub.cmd.Process.Pid, cfg)),
	}
	bareClosed := closed[1]
	pgClosed := make([]*target, len(pgs))
	for k, pg := range pgs {
		pgClosed[k] = newTarget(named("pushguard "+pg.action), pg.ep)
	}
	closed = append(closed, pgClosed...)
	measure(closed, load, cfg, 0)
	for k, pg := range pgs {
		pgClosed[k].heapInUse = scrapeGauge("http://"+pg.addr+"/metrics", "go_memstats_heap_inuse_bytes")
		if cfg.profile != "" && !*profiled && pg.action == cfg.profileAction && dup > 0 {
			*profiled = true
			profile(pg.addr, pg.ep, load, cfg)
		}
	}

	bare := bareClosed.result(load)
	for _, t := range closed {
		printResult(t.result(load), bare)
	}
	if len(paced) > 0 {
		fmt.Printf("  at a steady %.0f requests/s (%.0f samples/s):\n", cfg.rate, cfg.rate*float64(load.samples))
		base := paced[0].result(load)
		for _, t := range paced {
			r := t.result(load)
			fmt.Printf("  %-38s p50 %8s  p99 %8s  p99 added over the bare proxy %8s  errors %d\n",
				r.name, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), (r.p99 - base.p99).Round(10*time.Microsecond), r.errors)
		}
	}
	return nil
}

// profile takes pushguard's CPU profile under a closed-loop load of half
// the run's duration, outside the measurements, then its allocation
// profile.
func profile(addr string, ep *endpoint, load *load, cfg driveConfig) {
	t := newTarget("profiled", ep)
	prof := make(chan error, 1)
	go func() { prof <- fetchProfile(addr, cfg.profile, cfg.duration/2) }()
	t.run(load, cfg.senders, cfg.duration/2, 0)
	if err := <-prof; err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
	}
	if err := fetchURL(fmt.Sprintf("http://%s/debug/pprof/allocs", addr), cfg.profile+".allocs", 30*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "allocation profile:", err)
	}
}

// startHelper re-executes this binary in a helper mode and reads the
// address it listens on.
func startHelper(self string, args ...string) (*exec.Cmd, string, error) {
	cmd := exec.Command(self, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line := make([]byte, 64)
	n, err := out.Read(line)
	if err != nil {
		return nil, "", err
	}
	return cmd, strings.TrimSpace(string(line[:n])), nil
}

// startPushguard starts the pushguard binary on loopback in front of
// upstreamURL with action, and returns it once ready, with its HTTP
// address. Its log (rate-limited duplicate warnings) is kept in memory,
// not printed between the result lines; it is shown if it does not start.
func startPushguard(binary, upstreamURL, action string, extra []string) (*e2e.Process, string, error) {
	port, err := e2e.ListenablePort()
	if err != nil {
		return nil, "", err
	}
	grpcPort, err := e2e.ListenablePort()
	if err != nil {
		return nil, "", err
	}
	args := append([]string{
		"-server.http-listen-address=127.0.0.1", fmt.Sprintf("-server.http-listen-port=%d", port),
		"-server.grpc-listen-address=127.0.0.1", fmt.Sprintf("-server.grpc-listen-port=%d", grpcPort),
		"-upstream.url=" + upstreamURL, "-validator.action=" + action, "-log.level=warn",
	}, extra...)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := e2e.StartProcess("pushguard", binary, "http://"+addr+"/ready", 30*time.Second, args...)
	return p, addr, err
}

func fetchProfile(addr, path string, d time.Duration) error {
	return fetchURL(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())), path, d+30*time.Second)
}

// fetchURL writes what a GET of url answers to the file path.
func fetchURL(url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func parseFloats(s string) []float64 {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(f), &v); err == nil {
			out = append(out, v)
		}
	}
	return out
}
