package tests

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// fakeUpstream stands in for Mimir's distributor: it keeps every push it
// receives and answers with the status it is told to.
type fakeUpstream struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	pushes []prompb.WriteRequest
	status int
}

func newFakeUpstream(t testing.TB) *fakeUpstream {
	f := newUnstartedFakeUpstream(t)
	f.srv.Start()
	return f
}

// newUnstartedFakeUpstream is newFakeUpstream before its server starts, for
// the caller to start it with TLS.
func newUnstartedFakeUpstream(t testing.TB) *fakeUpstream {
	f := &fakeUpstream{t: t, status: http.StatusOK}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		wr, err := decodeWriteRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.pushes = append(f.pushes, wr)
		status := f.status
		f.mu.Unlock()
		if status != http.StatusOK {
			http.Error(w, "refused by the test upstream", status)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeUpstream) URL() string { return f.srv.URL + "/api/v1/push" }

func (f *fakeUpstream) setStatus(s int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = s
}

func (f *fakeUpstream) received() []prompb.WriteRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]prompb.WriteRequest(nil), f.pushes...)
}

// valuesOf returns the values the upstream received for series named
// metric, in order.
func valuesOf(pushes []prompb.WriteRequest, metric string) []float64 {
	var vs []float64
	for _, wr := range pushes {
		for _, s := range wr.Timeseries {
			for _, l := range s.Labels {
				if l.Name == "__name__" && l.Value == metric {
					for _, smp := range s.Samples {
						vs = append(vs, smp.Value)
					}
				}
			}
		}
	}
	return vs
}

const ruleMetric = "namespace:container_memory_usage_bytes:sum"

// ruleSeries is a recording rule's output, as the ruler writes it.
func ruleSeries(v float64, at time.Time) prompb.TimeSeries {
	return ts(v, at, "__name__", ruleMetric, "namespace", "shop")
}

func TestAcrossRequestsKeepFirst(t *testing.T) {
	up := newFakeUpstream(t)
	inst := startPushguard(t, "-validator.action=keep-first", "-upstream.url="+up.URL())
	c := inst.writeClient(t, "team-a")
	at := time.Now().Truncate(time.Second)

	require.NoError(t, push(t, c, ruleSeries(1, at)))
	// Two rule groups write the same series: the second value at the same
	// timestamp would be Mimir's err-mimir-sample-duplicate-timestamp and
	// cost the sender the whole batch, the up series included.
	other := ts(1, at, "__name__", "up", "job", "ruler")
	require.NoError(t, push(t, c, ruleSeries(2, at), other))

	got := up.received()
	require.Len(t, got, 2)
	require.Equal(t, []float64{1}, valuesOf(got, ruleMetric), "the upstream never receives the second value")
	require.Equal(t, []float64{1}, valuesOf(got, "up"))

	rep := inst.offenders(t, "team-a", "kind=across_requests")
	require.Len(t, rep.Offenders, 1)
	o := rep.Offenders[0]
	require.Equal(t, ruleMetric, o.Metric)
	require.EqualValues(t, 1, o.ConflictingSamples)
	require.EqualValues(t, 0, o.IdenticalSamples)
	require.EqualValues(t, 1, o.DroppedSamples)
	require.Equal(t, "keep-first", o.Action)
	require.Equal(t, at.UnixMilli(), o.Example.TimestampMs)
	require.Equal(t, []any{1.0, 2.0}, o.Example.Values, "the recorded value, then the new one")

	// A push left with nothing to forward is answered 2xx without calling
	// the upstream.
	require.NoError(t, push(t, c, ruleSeries(3, at)))
	require.Len(t, up.received(), 2)
	rep = inst.offenders(t, "team-a", "kind=across_requests")
	require.EqualValues(t, 2, rep.Offenders[0].ConflictingSamples)
	require.EqualValues(t, 2, rep.Offenders[0].DroppedSamples)

	// The next evaluation goes through.
	require.NoError(t, push(t, c, ruleSeries(4, at.Add(time.Minute))))
	require.Equal(t, []float64{1, 4}, valuesOf(up.received(), ruleMetric))

	metrics := inst.metrics(t)
	require.Contains(t, metrics, "pushguard_cross_request_series 2")
	require.Contains(t, metrics, `pushguard_duplicate_samples_total{action="keep-first",conflict="true",kind="across_requests",tenant="team-a"} 2`)
	require.Contains(t, metrics, `pushguard_cross_request_hits_total{tenant="team-a"} 3`)
}

func TestAcrossRequestsRulerRetry(t *testing.T) {
	up := newFakeUpstream(t)
	inst := startPushguard(t, "-upstream.url="+up.URL())
	c := inst.writeClient(t, "team-a")
	at := time.Now().Truncate(time.Second)

	// A ruler retries a push whose answer it did not get: same value.
	require.NoError(t, push(t, c, ruleSeries(1, at)))
	require.NoError(t, push(t, c, ruleSeries(1, at)))
	require.Equal(t, []float64{1, 1}, valuesOf(up.received(), ruleMetric), "report forwards unchanged")

	rep := inst.offenders(t, "team-a", "kind=across_requests")
	require.Len(t, rep.Offenders, 1)
	require.EqualValues(t, 0, rep.Offenders[0].ConflictingSamples)
	require.EqualValues(t, 1, rep.Offenders[0].IdenticalSamples)
	require.Equal(t, "report", rep.Offenders[0].Action)

	// A push the upstream refused is not remembered as forwarded.
	next := at.Add(time.Minute)
	up.setStatus(http.StatusBadRequest)
	require.Error(t, push(t, c, ruleSeries(5, next)))
	up.setStatus(http.StatusOK)
	require.NoError(t, push(t, c, ruleSeries(6, next)))
	rep = inst.offenders(t, "team-a", "kind=across_requests")
	require.EqualValues(t, 0, rep.Offenders[0].ConflictingSamples)
	require.EqualValues(t, 1, rep.Offenders[0].IdenticalSamples)
}

// TestAcrossRequestsInFlight sends two pushes of one series at one
// timestamp, the second while the first is still at the upstream, as a
// ruler's retry can. The tenant only reports, so the second is looked up
// once the upstream answered it: the first was accepted by then, and the
// upstream's 400 for the second is explained in the report.
func TestAcrossRequestsInFlight(t *testing.T) {
	arrived := make(chan float64, 2)
	answers := map[float64]chan int{1: make(chan int, 1), 2: make(chan int, 1)}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		wr, err := decodeWriteRequest(body)
		if err != nil || len(wr.Timeseries) != 1 || answers[wr.Timeseries[0].Samples[0].Value] == nil {
			http.Error(w, "unexpected push", http.StatusBadRequest)
			return
		}
		v := wr.Timeseries[0].Samples[0].Value
		arrived <- v
		status := <-answers[v]
		if status != http.StatusOK {
			http.Error(w, "duplicate sample for timestamp", status)
		}
	}))
	t.Cleanup(up.Close)
	inst := startPushguard(t, "-upstream.url="+up.URL+"/api/v1/push")
	c := inst.writeClient(t, "team-a")
	at := time.Now().Truncate(time.Second)
	send := func(v float64) <-chan error {
		wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ruleSeries(v, at)}}
		raw, err := wr.Marshal()
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() {
			_, err := c.Store(context.Background(), snappyEncode(raw), 0)
			done <- err
		}()
		return done
	}

	first := send(1)
	require.Equal(t, 1.0, <-arrived)
	second := send(2)
	require.Equal(t, 2.0, <-arrived, "both pushes are at the upstream at once")
	answers[1] <- http.StatusOK
	require.NoError(t, <-first)
	answers[2] <- http.StatusBadRequest
	require.Error(t, <-second)

	rep := inst.offenders(t, "team-a", "kind=across_requests")
	require.Len(t, rep.Offenders, 1)
	require.EqualValues(t, 1, rep.Offenders[0].ConflictingSamples)
	require.Equal(t, "report", rep.Offenders[0].Action)
}

func TestAcrossRequestsDisabled(t *testing.T) {
	up := newFakeUpstream(t)
	inst := startPushguard(t, "-validator.action=keep-first", "-validator.cross-request.enabled=false", "-upstream.url="+up.URL())
	c := inst.writeClient(t, "team-a")
	at := time.Now().Truncate(time.Second)
	require.NoError(t, push(t, c, ruleSeries(1, at)))
	require.NoError(t, push(t, c, ruleSeries(2, at)))
	require.Equal(t, []float64{1, 2}, valuesOf(up.received(), ruleMetric))
	require.Empty(t, inst.offenders(t, "team-a", "").Offenders)
	require.NotContains(t, inst.metrics(t), "pushguard_cross_request_series")
}

// metrics returns the /metrics page.
func (inst *instance) metrics(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(inst.url("/metrics"))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}
