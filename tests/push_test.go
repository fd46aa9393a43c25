package tests

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/stretchr/testify/require"
)

func snappyEncode(b []byte) []byte { return snappy.Encode(nil, b) }

func ts(value float64, t time.Time, lbls ...string) prompb.TimeSeries {
	s := prompb.TimeSeries{Samples: []prompb.Sample{{Value: value, Timestamp: t.UnixMilli()}}}
	for i := 0; i+1 < len(lbls); i += 2 {
		s.Labels = append(s.Labels, prompb.Label{Name: lbls[i], Value: lbls[i+1]})
	}
	return s
}

// ksmJobFailed is kube-state-metrics' kube_job_status_failed for a retried
// Job: the same series twice in one scrape, with different values.
func ksmJobFailed(v float64, at time.Time) prompb.TimeSeries {
	return ts(v, at,
		"__name__", "kube_job_status_failed",
		"instance", "10.0.0.7:8080",
		"job", "kube-state-metrics",
		"job_name", "renovate-28883520",
		"namespace", "renovate",
		"reason", "BackoffLimitExceeded",
	)
}

func TestPushReportsDuplicatesAndForwards(t *testing.T) {
	inst := startPushguard(t)
	c := inst.writeClient(t, "team-a")
	at := time.Now().Truncate(time.Second)

	up := ts(1, at, "__name__", "up", "job", "node", "instance", "n1")
	within := prompb.TimeSeries{
		Labels:  []prompb.Label{{Name: "__name__", Value: "container_spec_cpu_period"}, {Name: "id", Value: "/kubepods/x"}, {Name: "job", Value: "cadvisor"}},
		Samples: []prompb.Sample{{Value: 100000, Timestamp: at.UnixMilli()}, {Value: 100000, Timestamp: at.UnixMilli()}},
	}
	require.NoError(t, push(t, c, ksmJobFailed(1, at), up, ksmJobFailed(0, at), within))

	rep := inst.offenders(t, "team-a", "")
	require.Len(t, rep.Offenders, 2)
	ksm := rep.Offenders[0] // most conflicting first
	require.Equal(t, "team-a", ksm.Tenant)
	require.Equal(t, "kube_job_status_failed", ksm.Metric)
	require.Equal(t, "across_series", ksm.Kind)
	require.Equal(t, map[string]string{"job": "kube-state-metrics", "namespace": "renovate", "instance": "10.0.0.7:8080"}, ksm.Origin)
	require.EqualValues(t, 1, ksm.ConflictingSamples)
	require.EqualValues(t, 0, ksm.IdenticalSamples)
	require.Equal(t, "report", ksm.Action)
	require.Contains(t, ksm.UserAgent, "Prometheus/")
	require.Equal(t, at.UnixMilli(), ksm.Example.TimestampMs)
	require.Equal(t, []any{1.0, 0.0}, ksm.Example.Values)
	require.Equal(t, "renovate-28883520", ksm.Example.Labels["job_name"])

	cad := rep.Offenders[1]
	require.Equal(t, "within_series", cad.Kind)
	require.Equal(t, "container_spec_cpu_period", cad.Metric)
	require.EqualValues(t, 0, cad.ConflictingSamples)
	require.EqualValues(t, 1, cad.IdenticalSamples)

	// Filters.
	require.Len(t, inst.offenders(t, "team-a", "kind=within_series").Offenders, 1)
	require.Len(t, inst.offenders(t, "team-a", "metric=kube_job_status_failed").Offenders, 1)
	require.Len(t, inst.offenders(t, "team-a", "limit=1").Offenders, 1)
	// Another tenant sees nothing.
	require.Empty(t, inst.offenders(t, "team-b", "").Offenders)

	// Under report everything was forwarded unchanged; the embedded TSDB,
	// like Mimir, kept the first value and refused the conflicting one.
	got := inst.query(t, "team-a", `{__name__=~"up|kube_job_status_failed"}`, at)
	require.Equal(t, "1", got[`up{instance="n1", job="node"}`])
	require.Equal(t, "1", got[`kube_job_status_failed{instance="10.0.0.7:8080", job="kube-state-metrics", job_name="renovate-28883520", namespace="renovate", reason="BackoffLimitExceeded"}`])
}

func TestKeepFirstForwardsFirstValueOfEachGroup(t *testing.T) {
	inst := startPushguard(t, "-validator.action=keep-first")
	c := inst.writeClient(t, "team-a")
	at := time.Now().Truncate(time.Second)

	a := func(v float64) prompb.TimeSeries {
		return ts(v, at, "__name__", "http_requests_total", "job", "api", "namespace", "shop", "code", "200")
	}
	other := ts(7, at, "__name__", "http_requests_total", "job", "api", "namespace", "shop", "code", "500")
	// The first value of the group is 10; 20 and 30 must never reach the
	// upstream, and nothing else may be lost.
	require.NoError(t, push(t, c, a(10), other, a(20), a(30)))

	got := inst.query(t, "team-a", `http_requests_total`, at)
	require.Equal(t, map[string]string{
		`http_requests_total{code="200", job="api", namespace="shop"}`: "10",
		`http_requests_total{code="500", job="api", namespace="shop"}`: "7",
	}, got)

	rep := inst.offenders(t, "team-a", "")
	require.Len(t, rep.Offenders, 1)
	require.Equal(t, "keep-first", rep.Offenders[0].Action)
	require.EqualValues(t, 2, rep.Offenders[0].ConflictingSamples)
	require.EqualValues(t, 2, rep.Offenders[0].DroppedSamples)

	// No error from the upstream either: the conflicting samples were
	// removed before the TSDB could refuse them.
	require.NoError(t, push(t, c, a(10)), "identical resend of an already stored sample is accepted")
}

func TestPushErrors(t *testing.T) {
	inst := startPushguard(t, "-validator.warn-log-rate=100")
	valid := func() []byte {
		wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ts(1, time.Now(), "__name__", "up")}}
		raw, _ := wr.Marshal()
		return snappyEncode(raw)
	}()
	proto := map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy", "X-Scope-OrgID": "t"}
	for name, tc := range map[string]struct {
		body    []byte
		headers map[string]string
		status  int
		id      string
	}{
		"missing tenant":   {valid, map[string]string{"Content-Type": "application/x-protobuf"}, http.StatusUnauthorized, "missing-tenant"},
		"invalid tenant":   {valid, map[string]string{"X-Scope-OrgID": "a/../b"}, http.StatusUnauthorized, "invalid-tenant"},
		"garbage body":     {[]byte("this is not snappy at all"), proto, http.StatusBadRequest, "bad-snappy"},
		"bad protobuf":     {snappyEncode([]byte{0x0a, 0xff, 0xff}), proto, http.StatusBadRequest, "bad-protobuf"},
		"gzip":             {valid, map[string]string{"Content-Encoding": "gzip", "X-Scope-OrgID": "t"}, http.StatusUnsupportedMediaType, "unsupported-content-encoding"},
		"json":             {valid, map[string]string{"Content-Type": "application/json", "X-Scope-OrgID": "t"}, http.StatusUnsupportedMediaType, "unsupported-content-type"},
		"huge snappy head": {[]byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00}, proto, http.StatusRequestEntityTooLarge, "request-too-large"},
	} {
		t.Run(name, func(t *testing.T) {
			status, body := inst.rawPush(t, tc.body, tc.headers)
			require.Equal(t, tc.status, status, body)
			require.Contains(t, body, "(err-pushguard-"+tc.id+")")
			// The operator sees it too, with the sender, not only the
			// sender's log.
			tenant := tc.headers["X-Scope-OrgID"]
			line := regexp.MustCompile(`level=warn .*msg="refused push" reason=` + tc.id + ` tenant=` + regexp.QuoteMeta(tenant) + ` user_agent=Go-http-client/1\.1 sender=127\.0\.0\.1 err=".*\(err-pushguard-` + tc.id + `\)"`)
			require.Eventually(t, func() bool { return line.MatchString(inst.logs.String()) }, 5*time.Second, 20*time.Millisecond, inst.logs.String())
		})
	}
	// The process survived all of it.
	resp, err := http.Get(inst.url("/ready"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestBodyLimit(t *testing.T) {
	inst := startPushguard(t, "-validator.max-request-bytes=1000")
	big := make([]prompb.TimeSeries, 100)
	for i := range big {
		big[i] = ts(float64(i), time.Now(), "__name__", "m", "i", string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	wr := prompb.WriteRequest{Timeseries: big}
	raw, _ := wr.Marshal()
	status, body := inst.rawPush(t, snappyEncode(raw), map[string]string{"X-Scope-OrgID": "t", "Content-Type": "application/x-protobuf"})
	require.Equal(t, http.StatusRequestEntityTooLarge, status, body)
	require.Contains(t, body, "(err-pushguard-request-too-large)")
}

func TestUnreachableUpstreamIsRetryable(t *testing.T) {
	inst := startPushguard(t, "-upstream.url=http://127.0.0.1:1/api/v1/push", "-upstream.timeout=2s")
	err := push(t, inst.writeClient(t, "t"), ts(1, time.Now(), "__name__", "up"))
	require.Error(t, err)
	var rerr remote.RecoverableError
	require.ErrorAs(t, err, &rerr, "a 5xx is recoverable for Prometheus: it retries")
	status, body := inst.rawPush(t, func() []byte {
		wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ts(1, time.Now(), "__name__", "up")}}
		raw, _ := wr.Marshal()
		return snappyEncode(raw)
	}(), map[string]string{"X-Scope-OrgID": "t"})
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Contains(t, body, "(err-pushguard-upstream-unavailable)")
}
