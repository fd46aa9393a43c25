// Command loadbench measures what pushguard costs on the write path. It
// starts a stub upstream, a bare httputil.ReverseProxy and the real
// pushguard binary, each in its own process on loopback, drives the same
// remote-write load through each in one run and prints samples/s, the ratio
// to the bare proxy and p50/p99 latency.
package main

import (
	"bytes"
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	var (
		mode      = flag.String("mode", "drive", "drive, or (internal) stub / proxy / reencode")
		listen    = flag.String("listen", "127.0.0.1:0", "listen address in stub and proxy mode")
		target    = flag.String("target", "", "upstream URL in proxy mode")
		binary    = flag.String("pushguard", "./pushguard", "pushguard binary to measure")
		senders   = flag.Int("senders", 8, "concurrent senders")
		duration  = flag.Duration("duration", 10*time.Second, "load duration per target and scenario")
		seriesN   = flag.Int("series", 2000, "series per request")
		bodies    = flag.Int("bodies", 64, "distinct request bodies per scenario")
		dupsFlag  = flag.String("duplicates", "0,0.001,0.05", "duplicate fractions to measure")
		actions   = flag.String("actions", "report,keep-first", "pushguard actions to measure")
		extraArgs = flag.String("pushguard.args", "", "extra flags for pushguard, space separated")
		profile   = flag.String("cpuprofile", "", "write a CPU profile of pushguard under the first scenario with duplicates and -cpuprofile.action to this file")
		profAct   = flag.String("cpuprofile.action", "keep-first", "the action the CPU profile is taken under")
		rate      = flag.Float64("rate", 100, "requests a second of the steady-load latency runs, after each closed-loop run; 0 skips them")
		upstreams = flag.String("upstreams", "discard,decode", "stub upstreams to measure behind: discard (reads and drops the bytes) and decode (decompresses and unmarshals every push, as a distributor does first); the CPU profile is taken behind the first")
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
			binary: *binary, senders: *senders, duration: *duration, series: *seriesN,
			bodies: *bodies, duplicates: parseFloats(*dupsFlag), actions: strings.Split(*actions, ","),
			extraArgs: strings.Fields(*extraArgs), profile: *profile, profileAction: *profAct, rate: *rate, upstreams: strings.Split(*upstreams, ","),
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
}

type result struct {
	name          string
	samplesPerSec float64
	p50, p99      time.Duration
	errors        int64
	// cpuPerKSamples is the CPU time the process under test (the stub, the
	// proxy or pushguard) spent per 1,000 samples; 0 when unknown.
	cpuPerKSamples time.Duration
	// heapInUse is pushguard's heap in use after the run, from its
	// metrics; 0 for other targets.
	heapInUse float64
}

func drive(cfg driveConfig) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("machine: %d CPUs, %d senders, %d series a request, %s per run\n", runtime.NumCPU(), cfg.senders, cfg.series, cfg.duration)
	profiled := false
	for _, kind := range cfg.upstreams {
		if err := driveUpstream(self, kind, cfg, &profiled); err != nil {
			return err
		}
	}
	return nil
}

// driveUpstream measures every target in front of one kind of stub
// upstream.
func driveUpstream(self, kind string, cfg driveConfig, profiled *bool) error {
	stub, stubAddr, err := startHelper(self, "-mode=stub", "-stub="+kind)
	if err != nil {
		return err
	}
	defer stop(stub)
	upstreamURL := "http://" + stubAddr + "/api/v1/push"
	proxy, proxyAddr, err := startHelper(self, "-mode=proxy", "-target="+upstreamURL)
	if err != nil {
		return err
	}
	defer stop(proxy)
	reencode, reencodeAddr, err := startHelper(self, "-mode=reencode", "-target="+upstreamURL)
	if err != nil {
		return err
	}
	defer stop(reencode)

	fmt.Printf("\nupstream: %s stub\n", kind)
	for _, dup := range cfg.duplicates {
		load := newLoad(cfg.series, cfg.bodies, dup)
		direct := run(fmt.Sprintf("direct to upstream, %.1f%% dup", dup*100), "http://"+stubAddr+"/api/v1/push", stub.Process.Pid, load, cfg, 0)
		bareName := fmt.Sprintf("bare reverse proxy, %.1f%% dup", dup*100)
		bare := run(bareName, "http://"+proxyAddr+"/api/v1/push", proxy.Process.Pid, load, cfg, 0)
		reenc := run(fmt.Sprintf("gogo re-encoding proxy, %.1f%% dup", dup*100), "http://"+reencodeAddr+"/api/v1/push", reencode.Process.Pid, load, cfg, 0)
		printResult(direct, bare)
		printResult(bare, bare)
		printResult(reenc, bare)
		var paced []result
		if cfg.rate > 0 {
			paced = append(paced, run(bareName, "http://"+proxyAddr+"/api/v1/push", proxy.Process.Pid, load, cfg, cfg.rate))
		}
		for _, action := range cfg.actions {
			pg, addr, err := startPushguard(cfg.binary, upstreamURL, action, cfg.extraArgs)
			if err != nil {
				return err
			}
			name := fmt.Sprintf("pushguard %s, %.1f%% dup", action, dup*100)
			if cfg.rate > 0 {
				// Latency at a steady load first, while pushguard holds what
				// a steady load gives it: the closed-loop run below fills
				// its record and report with over a hundred tenants.
				paced = append(paced, run(name, "http://"+addr+"/api/v1/push", pg.Process.Pid, load, cfg, cfg.rate))
			}
			// The profile covers the closed-loop run, pushguard at full load.
			var prof chan error
			if cfg.profile != "" && !*profiled && action == cfg.profileAction && dup > 0 {
				*profiled = true
				prof = make(chan error, 1)
				go func() { prof <- fetchProfile(addr, cfg.profile, cfg.duration/2) }()
			}
			res := run(name, "http://"+addr+"/api/v1/push", pg.Process.Pid, load, cfg, 0)
			if prof != nil {
				if err := <-prof; err != nil {
					fmt.Fprintln(os.Stderr, "profile:", err)
				}
				// What the run allocated, for the same scenario.
				if err := fetchURL(fmt.Sprintf("http://%s/debug/pprof/allocs", addr), cfg.profile+".allocs", 30*time.Second); err != nil {
					fmt.Fprintln(os.Stderr, "allocation profile:", err)
				}
			}
			res.heapInUse = scrapeGauge("http://"+addr+"/metrics", "go_memstats_heap_inuse_bytes")
			stop(pg)
			printResult(res, bare)
		}
		if len(paced) > 0 {
			fmt.Printf("  at a steady %.0f requests/s (%.0f samples/s):\n", cfg.rate, cfg.rate*float64(load.samples))
			for _, r := range paced {
				fmt.Printf("  %-38s p50 %8s  p99 %8s  p99 added over the bare proxy %8s  errors %d\n",
					r.name, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), (r.p99 - paced[0].p99).Round(10*time.Microsecond), r.errors)
			}
		}
	}
	return nil
}

func printResult(r, bare result) {
	fmt.Printf("%-40s %12.0f samples/s  %5.2fx bare  p50 %8s  p99 %8s  CPU %7s/1k samples  errors %d\n",
		r.name, r.samplesPerSec, r.samplesPerSec/bare.samplesPerSec, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond),
		r.cpuPerKSamples.Round(100*time.Nanosecond), r.errors)
	if r.heapInUse > 0 {
		fmt.Printf("%-40s heap in use after the run: %.1f MiB\n", "", r.heapInUse/(1<<20))
	}
}

// run drives the load at url for cfg.duration and measures it. With rate 0
// every sender sends its next request as soon as the last is answered;
// otherwise requests are sent at rate a second in all (as long as fewer
// than cfg.senders are outstanding), and latency counts from when a request
// was due, so that a slow target is not excused by sending less.
func run(name, url string, pid int, load *load, cfg driveConfig, rate float64) result {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.senders * 2, MaxIdleConns: cfg.senders * 4}}
	// Warm up connections and pools.
	for i := 0; i < cfg.senders; i++ {
		_, _ = send(client, url, "bench-warmup", load.bodies[i%len(load.bodies)])
	}
	var (
		next     atomic.Int64
		okReqs   atomic.Int64
		errs     atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		deadline = time.Now().Add(cfg.duration)
		wg       sync.WaitGroup
	)
	cpuBefore, cpuErr := processCPU(pid)
	start := time.Now()
	for s := 0; s < cfg.senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				// Each pass over the bodies is a new tenant: the same
				// timestamps again would be across_requests duplicates.
				i := int(next.Add(1))
				body := load.bodies[i%len(load.bodies)]
				tenant := "bench-" + strconv.Itoa(i/len(load.bodies))
				t0 := time.Now()
				if rate > 0 {
					t0 = start.Add(time.Duration(float64(i-1) / rate * float64(time.Second)))
					if !t0.Before(deadline) {
						break
					}
					time.Sleep(time.Until(t0))
				}
				code, err := send(client, url, tenant, body)
				d := time.Since(t0)
				if err != nil || code/100 != 2 {
					errs.Add(1)
					continue
				}
				okReqs.Add(1)
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpuAfter, cpuErr2 := processCPU(pid)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	var perK time.Duration
	if samples := okReqs.Load() * int64(load.samples); cpuErr == nil && cpuErr2 == nil && samples > 0 {
		perK = (cpuAfter - cpuBefore) * 1000 / time.Duration(samples)
	}
	return result{
		name:           name,
		cpuPerKSamples: perK,
		samplesPerSec:  float64(okReqs.Load()*int64(load.samples)) / elapsed.Seconds(),
		p50:            pct(0.50),
		p99:            pct(0.99),
		errors:         errs.Load(),
	}
}

func send(client *http.Client, url, tenant string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("X-Scope-OrgID", tenant)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
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

func startPushguard(binary, upstreamURL, action string, extra []string) (*exec.Cmd, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	grpcPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	args := append([]string{
		"-server.http-listen-address=127.0.0.1", fmt.Sprintf("-server.http-listen-port=%d", port),
		"-server.grpc-listen-address=127.0.0.1", fmt.Sprintf("-server.grpc-listen-port=%d", grpcPort),
		"-upstream.url=" + upstreamURL, "-validator.action=" + action, "-log.level=warn",
	}, extra...)
	// Its log (rate-limited duplicate warnings) goes to a file, not
	// between the result lines.
	logFile, err := os.CreateTemp("", "loadbench-pushguard-*.log")
	if err != nil {
		return nil, "", err
	}
	defer logFile.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, addr, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop(cmd)
	return nil, "", fmt.Errorf("pushguard at %s not ready, see its log in %s", addr, logFile.Name())
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

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
