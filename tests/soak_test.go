package tests

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// soakPush is one request of the soak workload and what must come of it.
type soakPush struct {
	body []byte
	// want are the samples the upstream must hold once the push is
	// acknowledged; dropped are the injected duplicates keep-first removes.
	want    map[sampleKey]float64
	dropped int
}

// soakWorkload builds pushes of seriesPerPush series with samplesPerSeries
// samples each. Every sample has a timestamp of its own within its series,
// so that "exactly once" can be checked per (series, timestamp). Each push
// also repeats dupsPerPush of its samples in extra TimeSeries entries with
// another value: keep-first must drop those, on purpose.
func soakWorkload(t testing.TB, pushes, seriesPerPush, samplesPerSeries, dupsPerPush int) []soakPush {
	t.Helper()
	base := time.Now().Add(-time.Hour).UnixMilli()
	out := make([]soakPush, pushes)
	for p := range out {
		sp := soakPush{want: map[sampleKey]float64{}}
		var wr prompb.WriteRequest
		for i := 0; i < seriesPerPush; i++ {
			s := prompb.TimeSeries{Labels: []prompb.Label{
				{Name: "__name__", Value: "soak_samples"},
				{Name: "instance", Value: fmt.Sprintf("i%04d", i)},
				{Name: "job", Value: "soak"},
			}}
			for k := 0; k < samplesPerSeries; k++ {
				smp := prompb.Sample{Timestamp: base + int64(p*samplesPerSeries+k), Value: float64(p*1_000_000 + i*1000 + k)}
				s.Samples = append(s.Samples, smp)
				sp.want[sampleKey{labelsKey(s.Labels), smp.Timestamp}] = smp.Value
			}
			wr.Timeseries = append(wr.Timeseries, s)
		}
		for d := 0; d < dupsPerPush; d++ {
			orig := wr.Timeseries[(p+d*7)%seriesPerPush]
			dup := prompb.TimeSeries{Labels: orig.Labels, Samples: []prompb.Sample{{Timestamp: orig.Samples[0].Timestamp, Value: -orig.Samples[0].Value - 1}}}
			wr.Timeseries = append(wr.Timeseries, dup)
			sp.dropped++
		}
		raw, err := wr.Marshal()
		require.NoError(t, err)
		sp.body = snappyEncode(raw)
		out[p] = sp
	}
	return out
}

// soakStats are the counts a soak run prints.
type soakStats struct {
	pushes, acked, attempts, samplesSent, samplesAcked, droppedOnPurpose int
	statuses                                                             map[string]int
	refused                                                              []string // pushes dropped after a non-recoverable answer
}

// runSenders pushes work with workers Prometheus-like senders until every
// push is answered for good (accepted, refused, or given up on).
func runSenders(work []soakPush, workers int, s *sender, ackedPush func()) ([]bool, soakStats) {
	acked := make([]bool, len(work))
	st := soakStats{pushes: len(work), statuses: map[string]int{}}
	var mu sync.Mutex
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range work {
			select {
			case next <- i:
			case <-s.giveUp:
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res := s.send(work[i].body)
				mu.Lock()
				acked[i] = res.acked
				st.attempts += res.attempts
				for k, v := range res.statuses {
					st.statuses[k] += v
				}
				sent := len(work[i].want) + work[i].dropped
				st.samplesSent += sent
				if res.acked {
					st.acked++
					st.samplesAcked += sent
					st.droppedOnPurpose += work[i].dropped
				} else if res.dropped {
					st.refused = append(st.refused, fmt.Sprintf("push %d: %v %s", i, res.statuses, res.lastErr))
				}
				mu.Unlock()
				if res.acked && ackedPush != nil {
					ackedPush()
				}
			}
		}()
	}
	wg.Wait()
	return acked, st
}

// checkAcknowledged asserts that the upstream holds every sample of every
// acknowledged push, with its value, and never two values for one sample.
// It returns how many acknowledged samples it checked.
func checkAcknowledged(t *testing.T, up *faultUpstream, work []soakPush, acked []bool) int {
	t.Helper()
	up.mu.Lock()
	defer up.mu.Unlock()
	require.Empty(t, up.conflicts, "a sample reached the upstream with two values: a duplicate keep-first must drop got through")
	checked, missing := 0, 0
	for i, p := range work {
		if !acked[i] {
			continue
		}
		for k, v := range p.want {
			checked++
			got, ok := up.samples[k]
			if !ok {
				missing++
				continue
			}
			require.Equal(t, v, got, "sample %v of push %d", k, i)
		}
	}
	require.Zero(t, missing, "acknowledged samples missing upstream")
	return checked
}

func statusString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf(" %s=%d", k, m[k])
	}
	return s
}

// TestSoakFaultyUpstream pushes 200k samples, like Prometheus would, through
// pushguard to an upstream that fails 5% of requests at random in every way
// it can: afterwards the upstream holds every acknowledged sample exactly
// once, minus the duplicates keep-first dropped on purpose.
//
// "Exactly once" is per (series, timestamp), as Mimir stores samples: when
// the upstream ingested a push but its answer was lost (a hang or reset
// after reading), the sender retries and the identical samples arrive
// again, which Mimir takes as a no-op; the upstream here counts those as
// re-deliveries. What must never happen is a missing acknowledged sample or
// a second, different value for one.
func TestSoakFaultyUpstream(t *testing.T) {
	const pushes, series, samples, dups = 200, 100, 10, 5
	work := soakWorkload(t, pushes, series, samples, dups)

	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(20260427, 1))
	var n int
	up := startFaultUpstream(t, func() fault {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() >= 0.05 {
			return faultNone
		}
		f := allFaults[n%len(allFaults)]
		n++
		return f
	})
	inst := startPushguard(t, "-upstream.url="+up.URL, "-upstream.timeout=1s", "-validator.action=keep-first")

	s := newSender(inst.url("/api/v1/push"), "soak")
	start := time.Now()
	acked, st := runSenders(work, 4, s, nil)
	elapsed := time.Since(start)

	require.Empty(t, st.refused, "no push may be refused for good")
	require.Equal(t, pushes, st.acked, "every push is eventually accepted")
	checked := checkAcknowledged(t, up, work, acked)

	up.mu.Lock()
	defer up.mu.Unlock()
	require.Len(t, up.samples, checked, "the upstream holds nothing but the acknowledged samples")
	faults := 0
	for _, f := range allFaults {
		faults += up.faults[f]
	}
	require.NotZero(t, faults)
	require.Equal(t, st.acked, st.statuses["200"])
	t.Logf("soak: %d pushes, %d samples sent (%d injected duplicates), %d acknowledged in %d attempts in %s; answers:%s",
		st.pushes, st.samplesSent, st.droppedOnPurpose, st.acked, st.attempts, elapsed.Round(time.Millisecond), statusString(st.statuses))
	t.Logf("soak: upstream got %d requests, injected %d faults (%s), holds %d samples = every acknowledged one, %d identical re-deliveries after lost answers, 0 conflicts, %d duplicates dropped on purpose",
		up.requests, faults, faultCounts(up.faults), len(up.samples), up.resent, st.droppedOnPurpose)
}

func faultCounts(m map[fault]int) string {
	s := ""
	for _, f := range allFaults {
		s += fmt.Sprintf("%s=%d ", f, m[f])
	}
	return s[:len(s)-1]
}

// TestShutdownUnderLoad sends SIGTERM while Prometheus-like senders push
// without pause: /ready turns 503, new pushes are refused with a retryable
// 503, pushes in flight finish, and no acknowledged sample is lost.
func TestShutdownUnderLoad(t *testing.T) {
	work := soakWorkload(t, 400, 50, 10, 2)
	up := startFaultUpstream(t, nil)
	up.latency = 20 * time.Millisecond // so that pushes are in flight at SIGTERM
	inst := startPushguard(t, "-upstream.url="+up.URL, "-validator.action=keep-first",
		"-shutdown-delay=1s", "-server.graceful-shutdown-timeout=20s")

	giveUp := make(chan struct{})
	s := newSender(inst.url("/api/v1/push"), "t")
	s.giveUp = giveUp
	var ackedN atomic.Int64
	var readyWent503 atomic.Bool
	signalled := make(chan struct{})
	var once sync.Once
	go func() {
		<-signalled
		for {
			resp, err := http.Get(inst.url("/ready"))
			if err != nil {
				return // listeners closed
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				readyWent503.Store(true)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	unexpected := make(chan string, 1)
	go func() {
		select {
		case <-signalled:
		case <-inst.exited:
			// Died before SIGTERM (a crash or a race report): the senders
			// would retry forever.
			unexpected <- "pushguard exited before SIGTERM"
			close(giveUp)
			return
		case <-time.After(3 * time.Minute):
			unexpected <- "too few pushes acknowledged to send SIGTERM"
			close(giveUp)
			return
		}
		exited, err := inst.Wait(60 * time.Second)
		require.True(t, exited)
		require.NoError(t, err, "pushguard exits cleanly")
		// Let the senders retry against the closed port for a moment, as
		// Prometheus would, then stop.
		time.Sleep(300 * time.Millisecond)
		close(giveUp)
	}()
	acked, st := runSenders(work, 4, s, func() {
		if ackedN.Add(1) == 40 {
			once.Do(func() {
				require.NoError(t, inst.cmd.Process.Signal(syscall.SIGTERM))
				close(signalled)
			})
		}
	})
	select {
	case msg := <-unexpected:
		t.Fatal(msg)
	case <-signalled:
	default:
		t.Fatal("the load ended before SIGTERM")
	}

	checked := checkAcknowledged(t, up, work, acked)
	require.True(t, readyWent503.Load(), "/ready answers 503 once SIGTERM arrives")
	require.NotZero(t, st.statuses["503"], "pushes arriving during shutdown are refused with a retryable 503")
	for _, r := range st.refused {
		require.Failf(t, "a push got a non-retryable answer", r)
	}
	t.Logf("shutdown under load: %d of %d pushes acknowledged before exit (the rest were never accepted, and the senders still hold them), %d acknowledged samples all upstream; answers:%s",
		st.acked, st.pushes, checked, statusString(st.statuses))
}
