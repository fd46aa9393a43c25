package tests

import (
	"bufio"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// writeRuntimeFile replaces the runtime configuration file in one step, as
// a Kubernetes ConfigMap update does.
func writeRuntimeFile(t testing.TB, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path+".tmp", []byte(content), 0o600))
	require.NoError(t, os.Rename(path+".tmp", path))
}

// metric returns the value of the first /metrics line starting with
// prefix, and whether there was one.
func (inst *instance) metric(t testing.TB, prefix string) (string, bool) {
	t.Helper()
	resp, err := http.Get(inst.url("/metrics"))
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			return line[strings.LastIndexByte(line, ' ')+1:], true
		}
	}
	return "", false
}

func body(series ...prompb.TimeSeries) []byte {
	wr := prompb.WriteRequest{Timeseries: series}
	raw, err := wr.Marshal()
	if err != nil {
		panic(err)
	}
	return snappyEncode(raw)
}

func pushAs(t testing.TB, inst *instance, tenant string, series ...prompb.TimeSeries) (int, string) {
	t.Helper()
	return inst.rawPush(t, body(series...), map[string]string{
		"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy", "X-Scope-OrgID": tenant,
	})
}

const runtimeFile = `
overrides:
  t-keep-first: {action: keep-first}
  t-keep-last: {action: keep-last}
  t-keep-max: {action: keep-max}
  t-keep-min: {action: keep-min}
  t-sum: {action: sum}
  t-label: {action: label}
  t-reject: {action: reject}
  t-rules:
    action: sum
    rules:
      - match: '{__name__="kube_job_status_failed", job="kube-state-metrics"}'
        kinds: [across_series]
        action: label
`

// TestActionsEndToEnd pushes one duplicate group through the real binary
// under every action, one tenant each, and reads back what the embedded
// upstream stored.
func TestActionsEndToEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtime.yaml")
	writeRuntimeFile(t, path, runtimeFile)
	inst := startPushguard(t, "-runtime-config.file="+path)
	at := time.Now().Truncate(time.Second)

	// Two targets collapsed into one series by a labeldrop of pod, and a
	// third copy: 10, 30, 20 at one timestamp.
	reqs := func(v float64) prompb.TimeSeries {
		return ts(v, at, "__name__", "http_requests_total", "job", "api", "code", "200")
	}
	up := ts(1, at, "__name__", "up", "job", "api")
	const series = `http_requests_total{code="200", job="api"}`
	const labelled = `http_requests_total{code="200", duplicate_index="%s", job="api"}`
	for name, tc := range map[string]struct {
		want                       map[string]string
		dropped, changed, relabels int64
	}{
		"report":     {want: map[string]string{series: "10"}},
		"keep-first": {want: map[string]string{series: "10"}, dropped: 2},
		"keep-last":  {want: map[string]string{series: "20"}, dropped: 2},
		"keep-max":   {want: map[string]string{series: "30"}, dropped: 2},
		"keep-min":   {want: map[string]string{series: "10"}, dropped: 2},
		"sum":        {want: map[string]string{series: "60"}, dropped: 2, changed: 1},
		"label": {want: map[string]string{
			series:                                  "10",
			strings.Replace(labelled, "%s", "1", 1): "30",
			strings.Replace(labelled, "%s", "2", 1): "20",
		}, relabels: 2},
	} {
		t.Run(name, func(t *testing.T) {
			tenant := "t-" + name
			status, msg := pushAs(t, inst, tenant, reqs(10), up, reqs(30), reqs(20))
			require.Equal(t, http.StatusOK, status, msg)
			got := inst.query(t, tenant, `http_requests_total`, at)
			require.Equal(t, tc.want, got)
			require.Equal(t, map[string]string{`up{job="api"}`: "1"}, inst.query(t, tenant, `up`, at))

			rep := inst.offenders(t, tenant, "")
			require.Len(t, rep.Offenders, 1)
			o := rep.Offenders[0]
			require.Equal(t, name, o.Action)
			require.Equal(t, tc.dropped, o.DroppedSamples)
			require.Equal(t, tc.changed, o.ChangedSamples)
			require.Equal(t, tc.relabels, o.RelabelledSamples)
		})
	}

	// The chosen sample of a group comes from a later entry than a newer
	// sample of its series: written where it is, the TSDB would refuse
	// it as out of order and hold nothing at that timestamp.
	t.Run("the kept value reaches the TSDB in order", func(t *testing.T) {
		failed := func(v float64) prompb.TimeSeries {
			return ts(v, at, "__name__", "kube_job_status_failed", "job_name", "r")
		}
		first := failed(10)
		first.Samples = append(first.Samples, prompb.Sample{Value: 11, Timestamp: at.Add(time.Second).UnixMilli()})
		for action, want := range map[string]string{"keep-last": "20", "keep-max": "30", "keep-min": "10"} {
			tenant := "t-" + action
			status, msg := pushAs(t, inst, tenant, first, failed(30), failed(20))
			require.Equal(t, http.StatusOK, status, msg)
			const series = `kube_job_status_failed{job_name="r"}`
			require.Equal(t, map[string]string{series: want}, inst.query(t, tenant, `kube_job_status_failed`, at), action)
			require.Equal(t, map[string]string{series: "11"}, inst.query(t, tenant, `kube_job_status_failed`, at.Add(time.Second)), action)
		}
	})

	t.Run("reject", func(t *testing.T) {
		status, msg := pushAs(t, inst, "t-reject", reqs(10), up, reqs(30))
		require.Equal(t, http.StatusBadRequest, status, msg)
		require.Equal(t, `push refused: 1 samples repeat the series and timestamp of another sample: {__name__="http_requests_total", code="200", job="api"} at `+
			strconv.FormatInt(at.UnixMilli(), 10)+`: values 10, 30 (err-pushguard-sample-duplicate-timestamp)`, msg)
		require.Empty(t, inst.query(t, "t-reject", `{__name__=~"up|http_requests_total"}`, at), "nothing of a refused push is stored")
		rep := inst.offenders(t, "t-reject", "")
		require.Len(t, rep.Offenders, 1)
		require.Equal(t, "reject", rep.Offenders[0].Action)
		v, ok := inst.metric(t, `pushguard_rejected_requests_total{reason="sample-duplicate-timestamp"}`)
		require.True(t, ok)
		require.Equal(t, "1", v)
	})

	// A native histogram with a NaN zero threshold makes Prometheus'
	// FloatHistogram.Add loop forever: neither summing a duplicate group
	// nor PromQL's sum over the embedded TSDB may meet one.
	t.Run("a zero threshold Prometheus cannot add: sum keeps the first, the embedded TSDB refuses it", func(t *testing.T) {
		// The loop would hold the push or the query unanswered: fail
		// then rather than at the end of the test run.
		inst := *inst
		inst.client = &http.Client{Timeout: 30 * time.Second}
		histAt := func(pod string, threshold float64, at time.Time, n uint64) prompb.TimeSeries {
			h := &histogram.Histogram{Count: n, Sum: 6, ZeroThreshold: threshold, ZeroCount: 1,
				PositiveSpans: []histogram.Span{{Offset: 0, Length: 1}}, PositiveBuckets: []int64{int64(n) - 1}}
			s := ts(0, at, "__name__", "latency_seconds", "job", "api", "pod", pod)
			s.Samples = nil
			s.Histograms = []prompb.Histogram{prompb.FromIntHistogram(at.UnixMilli(), h)}
			return s
		}
		hist := func(pod string, threshold float64) prompb.TimeSeries {
			// Told apart by their counts: 4, or 5 with the NaN threshold.
			n := uint64(4)
			if math.IsNaN(threshold) {
				n = 5
			}
			return histAt(pod, threshold, at, n)
		}
		// A later group of the same offender that sum resolves does not
		// hide the one that fell back.
		later := at.Add(time.Second)
		status, msg := pushAs(t, &inst, "t-sum", hist("", 0.001), hist("", math.NaN()), histAt("", 0.001, later, 4), histAt("", 0.001, later, 6))
		require.Equal(t, http.StatusOK, status, msg)
		// Nor does one in a later push.
		latest := later.Add(time.Second)
		status, msg = pushAs(t, &inst, "t-sum", histAt("", 0.001, latest, 4), histAt("", 0.001, latest, 6))
		require.Equal(t, http.StatusOK, status, msg)
		var found bool
		for _, o := range inst.offenders(t, "t-sum", "").Offenders {
			if o.Metric == "latency_seconds" {
				found = true
				require.Equal(t, "keep-first", o.Action)
				require.Equal(t, "sum", o.RequestedAction)
				require.Equal(t, int64(3), o.DroppedSamples, "one by the fallback, two summed into their group's first")
				require.Equal(t, int64(2), o.ChangedSamples, "the sums")
			}
		}
		require.True(t, found, "the group is reported")

		status, msg = pushAs(t, &inst, "t-report", hist("a", 0.001), hist("b", math.NaN()))
		require.Equal(t, http.StatusBadRequest, status, msg)
		require.Contains(t, msg, `series {__name__="latency_seconds", job="api", pod="b"}`)
		require.Contains(t, msg, "native histogram zero threshold is not a finite number >= 0: NaN (err-pushguard-embedded-invalid-native-histogram)")
		// What each tenant stored is the valid histogram alone, and PromQL
		// sums it.
		for _, tenant := range []string{"t-sum", "t-report"} {
			require.Equal(t, map[string]string{"{}": "count=4 sum=6"}, inst.query(t, tenant, `sum(latency_seconds)`, at), tenant)
		}
	})

	t.Run("rules: first match wins, then the tenant's default", func(t *testing.T) {
		status, msg := pushAs(t, inst, "t-rules", ksmJobFailed(1, at), reqs(10), ksmJobFailed(0, at), reqs(5))
		require.Equal(t, http.StatusOK, status, msg)
		require.Equal(t, map[string]string{
			`kube_job_status_failed{instance="10.0.0.7:8080", job="kube-state-metrics", job_name="renovate-28883520", namespace="renovate", reason="BackoffLimitExceeded"}`:                      "1",
			`kube_job_status_failed{duplicate_index="1", instance="10.0.0.7:8080", job="kube-state-metrics", job_name="renovate-28883520", namespace="renovate", reason="BackoffLimitExceeded"}`: "0",
			series: "15",
		}, inst.query(t, "t-rules", `{__name__=~"kube_job_status_failed|http_requests_total"}`, at))
	})
}

// TestRuntimeConfigReload changes the runtime file under the running binary.
func TestRuntimeConfigReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtime.yaml")
	writeRuntimeFile(t, path, "overrides:\n  team-a:\n    action: keep-first\n")
	inst := startPushguard(t, "-runtime-config.file="+path, "-runtime-config.reload-period=50ms")
	at := time.Now().Truncate(time.Second).Add(-time.Minute)
	dup := func(at time.Time) []prompb.TimeSeries {
		return []prompb.TimeSeries{
			ts(1, at, "__name__", "kube_job_status_failed", "job_name", "r-1"),
			ts(2, at, "__name__", "kube_job_status_failed", "job_name", "r-1"),
		}
	}
	stored := func(at time.Time) map[string]string {
		return inst.query(t, "team-a", "kube_job_status_failed", at)
	}
	const key = `kube_job_status_failed{job_name="r-1"}`
	hash := func() string {
		resp, err := http.Get(inst.url("/metrics"))
		require.NoError(t, err)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "pushguard_runtime_config_hash{") {
				return sc.Text()
			}
		}
		return ""
	}

	status, msg := pushAs(t, inst, "team-a", dup(at)...)
	require.Equal(t, http.StatusOK, status, msg)
	require.Equal(t, map[string]string{key: "1"}, stored(at))

	// A new rule applies to the next push, without restart.
	before := hash()
	require.NotEmpty(t, before)
	writeRuntimeFile(t, path, "overrides:\n  team-a:\n    action: keep-last\n")
	require.Eventually(t, func() bool { return hash() != before }, 30*time.Second, 20*time.Millisecond)
	at2 := at.Add(time.Second)
	status, msg = pushAs(t, inst, "team-a", dup(at2)...)
	require.Equal(t, http.StatusOK, status, msg)
	require.Equal(t, map[string]string{key: "2"}, stored(at2))

	// A broken file changes nothing, and says so.
	writeRuntimeFile(t, path, "overrides:\n  team-a:\n    rules:\n      - match: '{job_name=~\"(\"}'\n        action: keep-first\n")
	require.Eventually(t, func() bool {
		v, ok := inst.metric(t, "pushguard_runtime_config_reload_failures_total")
		return ok && v != "0"
	}, 30*time.Second, 20*time.Millisecond)
	v, ok := inst.metric(t, `pushguard_runtime_config_last_reload_successful{config="overrides"}`)
	require.True(t, ok)
	require.Equal(t, "0", v)
	require.Contains(t, inst.logs.String(), `rule 1 (match \"{job_name=~\\\"(\\\"}\")`)
	at3 := at2.Add(time.Second)
	status, msg = pushAs(t, inst, "team-a", dup(at3)...)
	require.Equal(t, http.StatusOK, status, msg)
	require.Equal(t, map[string]string{key: "2"}, stored(at3), "keep-last still applies")

	// A file that disappears fails to read: counted as well, and the last
	// good configuration stays.
	writeRuntimeFile(t, path, "overrides:\n  team-a:\n    action: keep-last\n")
	require.Eventually(t, func() bool {
		v, _ := inst.metric(t, `pushguard_runtime_config_last_reload_successful{config="overrides"}`)
		return v == "1"
	}, 30*time.Second, 20*time.Millisecond)
	failures := func() float64 {
		v, ok := inst.metric(t, "pushguard_runtime_config_reload_failures_total")
		require.True(t, ok)
		n, err := strconv.ParseFloat(v, 64)
		require.NoError(t, err)
		return n
	}
	counted := failures()
	require.NoError(t, os.Remove(path))
	require.Eventually(t, func() bool { return failures() >= counted+2 }, 30*time.Second, 20*time.Millisecond)
	require.Contains(t, inst.logs.String(), "no such file or directory")
	at4 := at3.Add(time.Second)
	status, msg = pushAs(t, inst, "team-a", dup(at4)...)
	require.Equal(t, http.StatusOK, status, msg)
	require.Equal(t, map[string]string{key: "2"}, stored(at4), "keep-last still applies")
}
