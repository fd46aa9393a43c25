package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// endpoint is a process the load is driven through, at url.
type endpoint struct {
	url string
	pid int
	// upstreamPid is the upstream behind it; the same as pid for the
	// upstream itself.
	upstreamPid int
	client      *http.Client
	// sent counts the requests sent to it so far, over all its runs: each
	// run goes on with new tenants, as a stateful process (pushguard's
	// record) would take a request repeated for the same tenant as a
	// duplicate of the first.
	sent int64
	// tenants prefixes its tenants' names, its own among all endpoints
	// of the run: an upstream that keeps what it is sent (Mimir) sees
	// every endpoint's pushes as new series.
	tenants string
	// firstPushAlone holds the other pushes of a pass until its first
	// push, the one that creates the tenant upstream, is answered. Mimir's
	// TSDB can refuse a sample of a tenant whose head is being created
	// by a concurrent push as "beyond the out-of-order time window": an
	// appender made between the head's minimum and maximum time being set
	// takes the unset maximum. That is Mimir's, whichever target sends.
	firstPushAlone bool
	passes         sync.Map // pass number → chan struct{}, closed once its first push is answered
}

// endpoints counts the endpoints made so far, to name their tenants.
var endpoints atomic.Int64

func newEndpoint(url string, pid, upstreamPid int, cfg driveConfig) *endpoint {
	return &endpoint{
		url: url, pid: pid, upstreamPid: upstreamPid, tenants: fmt.Sprintf("bench-%d-", endpoints.Add(1)),
		client:         &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.senders * 2, MaxIdleConns: cfg.senders * 4}},
		firstPushAlone: cfg.firstPushAlone,
	}
}

// passGate returns the channel that closes once pass's first push is
// answered, when the pushes of request number i are to wait for it (a
// pass begun in an earlier run created its tenant then); first says
// whether i is that push itself.
func (ep *endpoint) passGate(i, bodies int, runStart int64) (gate chan struct{}, first bool) {
	pass := i / bodies
	if !ep.firstPushAlone || int64(pass*bodies) < runStart {
		return nil, false
	}
	g, _ := ep.passes.LoadOrStore(pass, make(chan struct{}))
	return g.(chan struct{}), i%bodies == 0
}

// target is one measurement of an endpoint: what its runs have measured
// so far.
type target struct {
	name string
	ep   *endpoint

	ok, errs int64
	firstErr string // what the first failed push of a run got
	elapsed  time.Duration
	// cpu is the CPU time the endpoint's process, the upstream behind it
	// and the load driver spent during the target's runs.
	cpu       cpuTimes
	cpuFailed bool
	lat       []time.Duration
	heapInUse float64
	// turns holds the samples/s of each run, in order: the runs of one
	// round of measure are turns taken side by side with every other
	// target's.
	turns []float64
}

func newTarget(name string, ep *endpoint) *target { return &target{name: name, ep: ep} }

// measure drives the load through every target for cfg.duration each, in
// cfg.rounds slices taken in turn (the order rotating every round), so
// that a change of the machine's speed during the run, as on a shared
// virtual machine, weighs on every target alike. rate is as in run.
func measure(targets []*target, load *load, cfg driveConfig, rate float64) {
	rounds := max(cfg.rounds, 1)
	slice := cfg.duration / time.Duration(rounds)
	for r := range rounds {
		for k := range targets {
			targets[(k+r)%len(targets)].run(load, cfg.senders, slice, rate)
		}
	}
}

// run drives the load at t for d and adds what it measured to t's. With
// rate 0 every sender sends its next request as soon as the last is
// answered; otherwise requests are sent at rate a second in all (as long as
// fewer than senders are outstanding), and latency counts from when a
// request was due, so that a slow target is not excused by sending less.
func (t *target) run(load *load, senders int, d time.Duration, rate float64) {
	ep := t.ep
	if ep.sent == 0 {
		// Warm up connections and pools.
		for i := 0; i < senders; i++ {
			_ = send(ep.client, ep.url, "bench-warmup", load.bodies[i%len(load.bodies)])
		}
	}
	var (
		next     atomic.Int64
		okReqs   atomic.Int64
		errs     atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		deadline = time.Now().Add(d)
		wg       sync.WaitGroup
	)
	cpuBefore, cpuErr := ep.cpuTimes()
	start := time.Now()
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				// Each pass over the bodies is a new tenant: the same
				// timestamps again would be across_requests duplicates.
				k := next.Add(1) - 1
				i := int(ep.sent + k)
				body := load.bodies[i%len(load.bodies)]
				tenant := ep.tenants + strconv.Itoa(i/len(load.bodies))
				gate, first := ep.passGate(i, len(load.bodies), ep.sent)
				t0 := time.Now()
				if rate > 0 {
					t0 = start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
					if !t0.Before(deadline) {
						if first {
							close(gate) // nothing later in the pass is sent either
						}
						break
					}
					time.Sleep(time.Until(t0))
				}
				if gate != nil && !first {
					<-gate
				}
				err := send(ep.client, ep.url, tenant, body)
				if first {
					close(gate)
				}
				dur := time.Since(t0)
				if err != nil {
					if errs.Add(1) == 1 {
						mu.Lock()
						if t.firstErr == "" {
							t.firstErr = err.Error()
						}
						mu.Unlock()
					}
					continue
				}
				okReqs.Add(1)
				mine = append(mine, dur)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.elapsed += elapsed
	t.turns = append(t.turns, float64(okReqs.Load()*int64(load.samples))/elapsed.Seconds())
	cpuAfter, cpuErr2 := ep.cpuTimes()
	if cpuErr != nil || cpuErr2 != nil {
		t.cpuFailed = true
	}
	t.cpu = t.cpu.add(cpuAfter.sub(cpuBefore))
	// Requests a sender drew but did not send (past the deadline) are
	// counted too: skipping a tenant number costs nothing.
	ep.sent += next.Load()
	t.ok += okReqs.Load()
	t.errs += errs.Load()
	t.lat = append(t.lat, lat...)
}

type result struct {
	name          string
	samplesPerSec float64
	p50, p99      time.Duration
	errors        int64
	firstErr      string
	// cpuPerKSamples is the CPU time the process under test (the stub, the
	// proxy or pushguard) spent per 1,000 samples; 0 when unknown.
	// upstreamPerK and driverPerK are those of the upstream behind it and
	// of the load driver, and idle the share of the machine's CPU time
	// nothing used: together the run's CPU budget, known when cpuKnown.
	// isUpstream says the target is the upstream itself.
	cpuPerKSamples, upstreamPerK, driverPerK time.Duration
	idle                                     float64
	cpuKnown, isUpstream                     bool
	// heapInUse is pushguard's heap in use after the run, from its
	// metrics; 0 for other targets.
	heapInUse float64
	// turns is the samples/s of each of the target's turns.
	turns []float64
}

// result sums up the target's runs.
func (t *target) result(load *load) result {
	slices.Sort(t.lat)
	pct := func(p float64) time.Duration {
		if len(t.lat) == 0 {
			return 0
		}
		return t.lat[min(len(t.lat)-1, int(float64(len(t.lat))*p))]
	}
	samples := t.ok * int64(load.samples)
	cpuKnown := !t.cpuFailed && samples > 0
	perK := func(d time.Duration) time.Duration {
		if !cpuKnown {
			return 0
		}
		return d * 1000 / time.Duration(samples)
	}
	var perSec float64
	if t.elapsed > 0 {
		perSec = float64(samples) / t.elapsed.Seconds()
	}
	return result{
		name:           t.name,
		cpuPerKSamples: perK(t.cpu.target),
		upstreamPerK:   perK(t.cpu.upstream),
		driverPerK:     perK(t.cpu.driver),
		idle:           t.cpu.idleShare(),
		cpuKnown:       cpuKnown,
		isUpstream:     t.ep.upstreamPid == t.ep.pid,
		samplesPerSec:  perSec,
		p50:            pct(0.50),
		p99:            pct(0.99),
		errors:         t.errs,
		firstErr:       t.firstErr,
		heapInUse:      t.heapInUse,
		turns:          t.turns,
	}
}

// turnRatios returns the lowest and highest ratio of r's samples/s to the
// bare proxy's over the turns they took in the same rounds, which says how
// much the machine's changing speed moves the ratio of the whole run; ok
// is false with fewer than two turns.
func turnRatios(r, bare result) (lo, hi float64, ok bool) {
	if len(r.turns) < 2 || len(r.turns) != len(bare.turns) {
		return 0, 0, false
	}
	for i, v := range r.turns {
		if bare.turns[i] <= 0 {
			return 0, 0, false
		}
		ratio := v / bare.turns[i]
		if i == 0 || ratio < lo {
			lo = ratio
		}
		if i == 0 || ratio > hi {
			hi = ratio
		}
	}
	return lo, hi, true
}

func printResult(r, bare result) {
	fmt.Printf("%-40s %12.0f samples/s  %5.2fx bare  p50 %8s  p99 %8s  CPU %7s/1k samples  errors %d\n",
		r.name, r.samplesPerSec, r.samplesPerSec/bare.samplesPerSec, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond),
		r.cpuPerKSamples.Round(100*time.Nanosecond), r.errors)
	if r.cpuKnown {
		up := "-"
		if !r.isUpstream {
			up = r.upstreamPerK.Round(10 * time.Microsecond).String()
		}
		fmt.Printf("%-40s CPU/1k samples of the upstream %s, the load driver %s; machine idle %.0f%%\n",
			"", up, r.driverPerK.Round(10*time.Microsecond), 100*r.idle)
	}
	if lo, hi, ok := turnRatios(r, bare); ok && r.name != bare.name {
		fmt.Printf("%-40s ratio to the bare proxy turn by turn: %.2fx to %.2fx (%d turns)\n", "", lo, hi, len(r.turns))
	}
	if r.errors > 0 {
		fmt.Printf("%-40s first error: %s\n", "", r.firstErr)
	}
	if r.heapInUse > 0 {
		fmt.Printf("%-40s heap in use after the run: %.1f MiB\n", "", r.heapInUse/(1<<20))
	}
}

// send pushes body for tenant; an answer other than 2xx is an error
// holding the status and the start of the answer.
func send(client *http.Client, url, tenant string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("X-Scope-OrgID", tenant)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("answered %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}
