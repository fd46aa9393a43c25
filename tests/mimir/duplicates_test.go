package mimir

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/tests/e2e"
)

// The traffic: what real producers send, as facts.md describes.
const (
	ksmSeries     = `kube_job_status_failed{instance="10.0.0.7:8080", job="kube-state-metrics", job_name="renovate-28883520", namespace="renovate", reason="BackoffLimitExceeded"}`
	relabelSeries = `http_requests_total{code="200", job="api", namespace="shop"}`
	cadvisorSerie = `container_spec_cpu_period{id="/kubepods/burstable/pod1", instance="node-1", job="cadvisor"}`
	ruleSeries    = `namespace:container_memory_usage_bytes:sum{namespace="shop"}`
	upSeries      = `up{instance="n1", job="node"}`

	allMetrics = `{__name__=~"up|kube_job_status_failed|http_requests_total|container_spec_cpu_period|namespace:container_memory_usage_bytes:sum"}`
)

func series(at time.Time, lbls []string, values ...float64) prompb.TimeSeries {
	s := prompb.TimeSeries{}
	for i := 0; i+1 < len(lbls); i += 2 {
		s.Labels = append(s.Labels, prompb.Label{Name: lbls[i], Value: lbls[i+1]})
	}
	for _, v := range values {
		s.Samples = append(s.Samples, prompb.Sample{Value: v, Timestamp: at.UnixMilli()})
	}
	return s
}

var (
	ksmLabels      = []string{"__name__", "kube_job_status_failed", "instance", "10.0.0.7:8080", "job", "kube-state-metrics", "job_name", "renovate-28883520", "namespace", "renovate", "reason", "BackoffLimitExceeded"}
	relabelLabels  = []string{"__name__", "http_requests_total", "code", "200", "job", "api", "namespace", "shop"}
	cadvisorLabels = []string{"__name__", "container_spec_cpu_period", "id", "/kubepods/burstable/pod1", "instance", "node-1", "job", "cadvisor"}
	ruleLabels     = []string{"__name__", "namespace:container_memory_usage_bytes:sum", "namespace", "shop"}
	upLabels       = []string{"__name__", "up", "instance", "n1", "job", "node"}
)

// firstRequest holds every within-request conflict: kube-state-metrics
// reporting a retried Job twice (1, then 0); three pods collapsed into one
// series by a labeldrop of `pod` (10, 20, 30); cAdvisor repeating a
// timestamp inside one series (100000, then 50000); plus a recording rule's
// first evaluation and a healthy series.
func firstRequest(at time.Time) []prompb.TimeSeries {
	return []prompb.TimeSeries{
		series(at, upLabels, 1),
		series(at, ksmLabels, 1),
		series(at, relabelLabels, 10),
		series(at, ruleLabels, 5),
		series(at, ksmLabels, 0),
		series(at, relabelLabels, 20),
		series(at, cadvisorLabels, 100000, 50000),
		series(at, relabelLabels, 30),
	}
}

// retryRequest is the cross-request conflict: a ruler that re-evaluates
// (or two rules writing one series) and sends the same series and
// timestamp with a new value in a later request.
func retryRequest(at time.Time) []prompb.TimeSeries {
	return []prompb.TimeSeries{series(at, ruleLabels, 6)}
}

// keptFirst is what Mimir stores when it keeps the first value of every
// duplicate group, which it does on its own and pushguard's keep-first does.
var keptFirst = map[string]string{
	upSeries:      "1",
	ksmSeries:     "1",
	relabelSeries: "10",
	cadvisorSerie: "100000",
	ruleSeries:    "5",
}

// keptLast is what Mimir holds after keep-last: across requests, where
// the first sample has gone upstream, it keeps the first too.
var keptLast = map[string]string{
	upSeries:      "1",
	ksmSeries:     "0",
	relabelSeries: "30",
	cadvisorSerie: "50000",
	ruleSeries:    "5",
}

// labelled is what Mimir holds after the label action.
var labelled = map[string]string{
	upSeries:  "1",
	ksmSeries: "1",
	`kube_job_status_failed{duplicate_index="1", instance="10.0.0.7:8080", job="kube-state-metrics", job_name="renovate-28883520", namespace="renovate", reason="BackoffLimitExceeded"}`: "0",
	relabelSeries: "10",
	`http_requests_total{code="200", duplicate_index="1", job="api", namespace="shop"}`: "20",
	`http_requests_total{code="200", duplicate_index="2", job="api", namespace="shop"}`: "30",
	cadvisorSerie: "100000",
	`container_spec_cpu_period{duplicate_index="1", id="/kubepods/burstable/pod1", instance="node-1", job="cadvisor"}`: "50000",
	ruleSeries: "5",
}

func TestStraightIntoMimir(t *testing.T) {
	straightIntoMimir(t, startMimir(t), "direct")
}

// straightIntoMimir pushes the traffic into Mimir as tenant, with nothing in
// between, and checks what Mimir answers and stores.
func straightIntoMimir(t *testing.T, m *mimir, tenant string) {
	t.Helper()
	at := time.Now().Truncate(time.Second)

	status, body := push(t, m.pushURL(), tenant, firstRequest(at)...)
	require.Equal(t, http.StatusOK, status, "within-request conflicts are not an error: %s", body)
	require.Equal(t, keptFirst, m.query(t, tenant, allMetrics, at), "the first value wins, the others vanish silently")

	status, body = push(t, m.pushURL(), tenant, retryRequest(at)...)
	require.Equal(t, http.StatusBadRequest, status, body)
	require.Contains(t, body, "duplicate sample for timestamp")
	require.Equal(t, "5", m.query(t, tenant, allMetrics, at)[ruleSeries])
}

// offender is the part of a pushguard offender the tests look at.
type offender struct {
	Metric             string            `json:"metric"`
	Kind               string            `json:"kind"`
	Origin             map[string]string `json:"origin"`
	ConflictingSamples int64             `json:"conflicting_samples"`
	Action             string            `json:"action"`
	RequestedAction    string            `json:"requested_action"`
	DroppedSamples     int64             `json:"dropped_samples"`
	UserAgent          string            `json:"user_agent"`
}

func (p *pushguard) offenders(t testing.TB, tenant string) map[string]offender {
	t.Helper()
	var out struct {
		Offenders []offender `json:"offenders"`
	}
	e2e.GetJSON(t, "http://"+p.addr+"/api/v1/offenders", tenant, &out)
	byKey := map[string]offender{}
	for _, o := range out.Offenders {
		byKey[o.Metric+"/"+o.Kind] = o
	}
	return byKey
}

// crossRequestFlags turns on across-request detection where this pushguard
// has it.
func crossRequestFlags(t testing.TB) (bool, []string) {
	if hasFlag(t, "validator.cross-request.max-series") {
		t.Log("across-request detection: on")
		return true, []string{"-validator.cross-request.max-series=10000"}
	}
	t.Log("across-request detection: not in this pushguard, expecting Mimir's 400 for the ruler retry")
	return false, nil
}

func TestThroughPushguardReport(t *testing.T) {
	m := startMimir(t)
	crossRequest, extra := crossRequestFlags(t)
	pg := startPushguard(t, m.pushURL(), "report", extra...)
	pushURL := "http://" + pg.addr + "/api/v1/push"
	at := time.Now().Truncate(time.Second)
	const tenant = "pg-report"

	// The same outcome as straight into Mimir...
	status, body := push(t, pushURL, tenant, firstRequest(at)...)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, keptFirst, m.query(t, tenant, allMetrics, at))
	status, body = push(t, pushURL, tenant, retryRequest(at)...)
	require.Equal(t, http.StatusBadRequest, status, "Mimir's answer is passed back intact")
	require.Contains(t, body, "duplicate sample for timestamp")

	// ...but every case is in the offender report.
	rep := pg.offenders(t, tenant)
	ksm := rep["kube_job_status_failed/across_series"]
	require.EqualValues(t, 1, ksm.ConflictingSamples)
	require.Equal(t, map[string]string{"job": "kube-state-metrics", "instance": "10.0.0.7:8080", "namespace": "renovate"}, ksm.Origin)
	require.Equal(t, "Prometheus/3.5.0", ksm.UserAgent)
	require.EqualValues(t, 2, rep["http_requests_total/across_series"].ConflictingSamples)
	require.EqualValues(t, 1, rep["container_spec_cpu_period/within_series"].ConflictingSamples)
	for key, o := range rep {
		require.Equal(t, "report", o.Action, key)
		require.Zero(t, o.DroppedSamples, key)
	}
	if crossRequest {
		require.EqualValues(t, 1, rep["namespace:container_memory_usage_bytes:sum/across_requests"].ConflictingSamples)
		require.Len(t, rep, 4)
	} else {
		// Without across-request detection only Mimir's 400 tells of the
		// ruler's conflict.
		require.Len(t, rep, 3, "%v", rep)
	}
}

// TestThroughPushguardRepairs runs the repairing actions. Each promises
// exactly what Mimir stores; every push is acknowledged.
func TestThroughPushguardRepairs(t *testing.T) {
	m := startMimir(t)
	crossRequest, extra := crossRequestFlags(t)
	for _, tc := range []struct {
		action  string
		stored  map[string]string
		dropped map[string]int64 // metric/kind -> samples dropped
	}{
		{
			action:  "keep-first",
			stored:  keptFirst,
			dropped: map[string]int64{"kube_job_status_failed/across_series": 1, "http_requests_total/across_series": 2, "container_spec_cpu_period/within_series": 1},
		},
		{
			action:  "keep-last",
			stored:  keptLast,
			dropped: map[string]int64{"kube_job_status_failed/across_series": 1, "http_requests_total/across_series": 2, "container_spec_cpu_period/within_series": 1},
		},
		{
			action:  "label",
			stored:  labelled,
			dropped: map[string]int64{},
		},
	} {
		t.Run(tc.action, func(t *testing.T) {
			pg := startPushguard(t, m.pushURL(), tc.action, extra...)
			pushURL := "http://" + pg.addr + "/api/v1/push"
			at := time.Now().Truncate(time.Second)
			tenant := "pg-" + tc.action

			status, body := push(t, pushURL, tenant, firstRequest(at)...)
			require.Equal(t, http.StatusOK, status, body)
			status, body = push(t, pushURL, tenant, retryRequest(at)...)
			if crossRequest {
				require.Equal(t, http.StatusOK, status, "the ruler's retry is repaired too: %s", body)
			} else {
				require.Equal(t, http.StatusBadRequest, status, "without across-request detection Mimir's 400 comes through: %s", body)
			}
			require.Equal(t, tc.stored, m.query(t, tenant, allMetrics, at))

			rep := pg.offenders(t, tenant)
			for _, key := range []string{"kube_job_status_failed/across_series", "http_requests_total/across_series", "container_spec_cpu_period/within_series"} {
				require.Contains(t, rep, key)
				require.Equal(t, tc.action, rep[key].Action, key)
				require.Equal(t, tc.dropped[key], rep[key].DroppedSamples, key)
			}
			if crossRequest {
				require.Contains(t, rep, "namespace:container_memory_usage_bytes:sum/across_requests")
			}
		})
	}
}
