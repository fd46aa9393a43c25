package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/stretchr/testify/require"
	grpccodes "google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/pushguard/pushguard/proto/compat/cortexpb"
)

// fault is what the fault-injecting upstream does with one push.
type fault string

const (
	faultNone fault = ""
	// fault500 and fault429 answer before ingesting, with Retry-After.
	fault500 fault = "500"
	fault429 fault = "429"
	// faultHang ingests nothing and never answers: pushguard's
	// -upstream.timeout must give up.
	faultHang fault = "hang"
	// faultIngestHang ingests, then never answers: the answer is lost.
	faultIngestHang fault = "ingest-then-hang"
	// faultReset drops the connection (RST) before ingesting.
	faultReset fault = "reset"
	// faultIngestReset ingests, then drops the connection.
	faultIngestReset fault = "ingest-then-reset"
)

// upstreamRetryAfter tells the upstream's Retry-After apart from
// pushguard's own.
const upstreamRetryAfter = "7"

var allFaults = []fault{fault500, fault429, faultHang, faultIngestHang, faultReset, faultIngestReset}

// sampleKey names one sample: its series and timestamp.
type sampleKey struct {
	series string
	ts     int64
}

// faultUpstream is a remote-write receiver that stores what it ingests,
// deduplicated by (series, timestamp) as Mimir does for an identical
// resend, and fails the pushes next tells it to.
type faultUpstream struct {
	URL     string
	next    func() fault
	latency time.Duration
	// recordOnly accepts every push without decoding it, keeping its bytes.
	recordOnly bool

	mu        sync.Mutex
	samples   map[sampleKey]float64
	resent    int // identical samples ingested again: a lost answer's retry
	conflicts []string
	requests  int
	faults    map[fault]int
	bodies    [][]byte
	cancelled int // pushes whose caller went away before the answer
}

func startFaultUpstream(t testing.TB, next func() fault) *faultUpstream {
	t.Helper()
	u := &faultUpstream{next: next, samples: map[sampleKey]float64{}, faults: map[fault]int{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: u}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	u.URL = "http://" + l.Addr().String() + "/api/v1/push"
	return u
}

func (u *faultUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	f := faultNone
	if u.next != nil {
		f = u.next()
	}
	u.mu.Lock()
	u.requests++
	u.bodies = append(u.bodies, body)
	if f != faultNone {
		u.faults[f]++
	}
	u.mu.Unlock()
	if u.latency > 0 {
		time.Sleep(u.latency)
	}

	switch f {
	case fault500:
		w.Header().Set("Retry-After", upstreamRetryAfter)
		http.Error(w, "injected failure", http.StatusInternalServerError)
		return
	case fault429:
		w.Header().Set("Retry-After", upstreamRetryAfter)
		http.Error(w, "injected rate limit", http.StatusTooManyRequests)
		return
	case faultHang:
		u.waitGone(r)
		return
	case faultReset:
		reset(w)
		return
	}
	if u.recordOnly {
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := u.ingest(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch f {
	case faultIngestHang:
		u.waitGone(r)
	case faultIngestReset:
		reset(w)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// waitGone holds the push until its caller gives up.
func (u *faultUpstream) waitGone(r *http.Request) {
	select {
	case <-r.Context().Done():
		u.mu.Lock()
		u.cancelled++
		u.mu.Unlock()
	case <-time.After(30 * time.Second):
	}
}

// reset closes the connection with a TCP RST.
func reset(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func (u *faultUpstream) ingest(body []byte) error {
	wr, err := decodeWriteRequest(body)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, s := range wr.Timeseries {
		id := labelsKey(s.Labels)
		for _, smp := range s.Samples {
			k := sampleKey{id, smp.Timestamp}
			if old, ok := u.samples[k]; ok {
				if math.Float64bits(old) != math.Float64bits(smp.Value) {
					u.conflicts = append(u.conflicts, fmt.Sprintf("%s@%d: %g then %g", id, smp.Timestamp, old, smp.Value))
				} else {
					u.resent++
				}
				continue
			}
			u.samples[k] = smp.Value
		}
	}
	return nil
}

func labelsKey(ls []prompb.Label) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Name)
		b.WriteByte('=')
		b.WriteString(l.Value)
		b.WriteByte(',')
	}
	return b.String()
}

// sendResult is what a Prometheus-like sender learnt of one push.
type sendResult struct {
	acked bool
	// dropped: a non-recoverable answer made the sender drop the batch.
	dropped  bool
	attempts int
	statuses map[string]int // answer (status code or "error") -> count
	lastErr  string
}

// sender pushes like Prometheus' remote write: it retries 5xx, 429 and
// network errors with exponential backoff (honouring Retry-After up to its
// maximum backoff), and never retries any other 4xx: that batch is dropped.
type sender struct {
	url        string
	tenant     string
	client     *http.Client
	minBackoff time.Duration
	maxBackoff time.Duration
	// giveUp ends the retries of a push not yet accepted.
	giveUp <-chan struct{}
}

func newSender(url, tenant string) *sender {
	return &sender{
		url:        url,
		tenant:     tenant,
		client:     &http.Client{Timeout: 30 * time.Second},
		minBackoff: 10 * time.Millisecond,
		maxBackoff: 200 * time.Millisecond,
	}
}

func (s *sender) send(body []byte) sendResult {
	res := sendResult{statuses: map[string]int{}}
	backoff := s.minBackoff
	for {
		res.attempts++
		code, retryAfter, err := s.once(body)
		switch {
		case err != nil:
			res.statuses["error"]++
			res.lastErr = err.Error()
		case code/100 == 2:
			res.statuses[strconv.Itoa(code)]++
			res.acked = true
			return res
		case code >= 500 || code == http.StatusTooManyRequests:
			res.statuses[strconv.Itoa(code)]++
		default:
			res.statuses[strconv.Itoa(code)]++
			res.dropped = true
			return res // non-recoverable: the batch is dropped
		}
		wait := backoff
		if retryAfter > 0 {
			wait = min(retryAfter, s.maxBackoff)
		}
		select {
		case <-s.giveUp:
			return res
		case <-time.After(wait):
		}
		backoff = min(2*backoff, s.maxBackoff)
	}
}

func (s *sender) once(body []byte) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", "Prometheus/3.1.0")
	req.Header.Set("X-Scope-OrgID", s.tenant)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	var retryAfter time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		retryAfter = time.Duration(secs) * time.Second
	}
	return resp.StatusCode, retryAfter, nil
}

// TestUpstreamFaults checks that every way the upstream can fail reaches
// the sender as a retryable answer, never a 2xx.
func TestUpstreamFaults(t *testing.T) {
	var mu sync.Mutex
	current := faultNone
	up := startFaultUpstream(t, func() fault { mu.Lock(); defer mu.Unlock(); return current })
	inst := startPushguard(t, "-upstream.url="+up.URL, "-upstream.timeout=1s")
	body := snappyEncode(func() []byte {
		wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ts(1, time.Now(), "__name__", "up", "job", "j")}}
		raw, err := wr.Marshal()
		require.NoError(t, err)
		return raw
	}())
	headers := map[string]string{"X-Scope-OrgID": "t", "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
	for _, tc := range []struct {
		fault      fault
		status     int
		retryAfter string
		id         string
	}{
		{fault500, http.StatusInternalServerError, upstreamRetryAfter, ""},
		{fault429, http.StatusTooManyRequests, upstreamRetryAfter, ""},
		{faultHang, http.StatusServiceUnavailable, "1", "upstream-unavailable"},
		{faultIngestHang, http.StatusServiceUnavailable, "1", "upstream-unavailable"},
		{faultReset, http.StatusServiceUnavailable, "1", "upstream-unavailable"},
		{faultIngestReset, http.StatusServiceUnavailable, "1", "upstream-unavailable"},
		{faultNone, http.StatusOK, "", ""},
	} {
		name := string(tc.fault)
		if tc.fault == faultNone {
			name = "no fault"
		}
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			current = tc.fault
			mu.Unlock()
			req, err := http.NewRequest(http.MethodPost, inst.url("/api/v1/push"), bytes.NewReader(body))
			require.NoError(t, err)
			for k, v := range headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode, string(b))
			require.Equal(t, tc.retryAfter, resp.Header.Get("Retry-After"), "the upstream's or pushguard's own Retry-After reaches the sender")
			if tc.id != "" {
				require.Contains(t, string(b), "(err-pushguard-"+tc.id+")")
			}
		})
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	require.Equal(t, 2, up.cancelled, "pushguard gives up on a hanging upstream after -upstream.timeout")
}

// TestSenderDisconnectCancelsUpstream: a sender that goes away while its
// push waits on the upstream cancels pushguard's upstream call.
func TestSenderDisconnectCancelsUpstream(t *testing.T) {
	up := startFaultUpstream(t, func() fault { return faultHang })
	inst := startPushguard(t, "-upstream.url="+up.URL, "-upstream.timeout=60s")
	wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ts(1, time.Now(), "__name__", "up")}}
	raw, err := wr.Marshal()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, inst.url("/api/v1/push"), bytes.NewReader(snappyEncode(raw)))
	require.NoError(t, err)
	req.Header.Set("X-Scope-OrgID", "t")
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { up.mu.Lock(); defer up.mu.Unlock(); return up.requests == 1 }, 30*time.Second, 10*time.Millisecond)
	cancel()
	require.True(t, errors.Is(<-errc, context.Canceled))
	// Far sooner than the 60s upstream timeout, the upstream sees its
	// caller go away.
	require.Eventually(t, func() bool { up.mu.Lock(); defer up.mu.Unlock(); return up.cancelled == 1 }, 20*time.Second, 10*time.Millisecond)
}

// TestUpstreamRedirect: an upstream that answers a push with a redirect
// has not accepted it. pushguard does not follow the redirect (net/http
// would re-send the push as a GET without a body, or re-send it elsewhere,
// and hand back the target's 2xx): the sender gets a retryable 502 and keeps
// the samples, and nothing is recorded as forwarded until an upstream took
// them.
func TestUpstreamRedirect(t *testing.T) {
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	t.Cleanup(target.Close)
	location := target.URL + "/api/v1/push"
	var redirect, stored atomic.Int32 // redirect: the status the upstream answers, 0 to accept
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if code := int(redirect.Load()); code != 0 {
			http.Redirect(w, r, location, code)
			return
		}
		stored.Add(1)
	}))
	t.Cleanup(up.Close)
	inst := startPushguard(t, "-upstream.url="+up.URL+"/api/v1/push")
	at := time.Now().Truncate(time.Second)
	sample := ts(1, at, "__name__", "up", "job", "moved")
	headers := map[string]string{"X-Scope-OrgID": "team-a", "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}

	codes := []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect}
	for _, code := range codes {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			redirect.Store(int32(code))
			status, answer := inst.rawPush(t, body(sample), headers)
			require.Equal(t, http.StatusBadGateway, status, answer)
			require.Equal(t, fmt.Sprintf("upstream answered %d %s, Location %q: -upstream.url must be the final address, since pushguard does not follow redirects (err-pushguard-upstream-redirect)",
				code, http.StatusText(code), location), answer)
		})
	}
	// Prometheus keeps the samples and retries.
	var rerr remote.RecoverableError
	require.ErrorAs(t, push(t, inst.writeClient(t, "team-a"), sample), &rerr)
	// So does a gRPC client pushing through the HTTP upstream.
	_, err := distributorClient(t, inst.GRPCAddr).Push(withTenant("team-a"),
		&cortexpb.WriteRequest{Timeseries: []*cortexpb.TimeSeries{series(1, at, "__name__", "up", "job", "moved")}})
	require.Equal(t, grpccodes.Unavailable, grpcstatus.Code(err), "%v", err)
	require.Contains(t, err.Error(), "(err-pushguard-upstream-redirect)")
	require.Zero(t, followed.Load(), "the redirect target gets nothing")

	// Counted and logged as pushguard's refusal, like an unavailable
	// upstream: each code's push, Prometheus' and the gRPC one.
	v, ok := inst.metric(t, `pushguard_rejected_requests_total{reason="upstream-redirect"}`)
	require.True(t, ok)
	require.Equal(t, strconv.Itoa(len(codes)+2), v)
	// Timestamped, so that a log collected without its own times still
	// says when.
	require.Regexp(t, `level=warn ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z .*msg="upstream answered with a redirect" tenant=team-a`, inst.logs.String())

	// The record learnt nothing: the push, accepted at last, is no
	// duplicate of itself.
	redirect.Store(0)
	require.NoError(t, push(t, inst.writeClient(t, "team-a"), sample))
	require.EqualValues(t, 1, stored.Load())
	require.Empty(t, inst.offenders(t, "team-a", "").Offenders)
}

// TestGRPCEmptyPushThroughHTTP: a gRPC push with nothing in it reaches an
// HTTP upstream as a snappy block it decodes, not as an empty body, which
// Mimir refuses with 400.
func TestGRPCEmptyPushThroughHTTP(t *testing.T) {
	bodies := make(chan []byte, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
	}))
	t.Cleanup(up.Close)
	inst := startPushguard(t, "-upstream.url="+up.URL+"/api/v1/push")
	_, err := distributorClient(t, inst.GRPCAddr).Push(withTenant("team-a"), &cortexpb.WriteRequest{})
	require.NoError(t, err)
	decoded, err := snappy.Decode(nil, <-bodies)
	require.NoError(t, err)
	require.Empty(t, decoded)
}
