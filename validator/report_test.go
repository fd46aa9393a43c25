package validator

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// TestRecordMetrics checks the duplicate counters by kind, conflict and
// action, and the attribution counter with its overflow bucket.
func TestRecordMetrics(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("test", flag.PanicOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"-validator.max-attribution-cardinality=2"}))
	reg := prometheus.NewRegistry()
	v, err := New(cfg, log.NewNopLogger(), reg)
	require.NoError(t, err)

	ksm := func(ns string, v float64) prompb.TimeSeries {
		return withSamples(series("__name__", "kube_job_status_failed", "job", "kube-state-metrics", "namespace", ns, "job_name", "j"), 1000, v)
	}
	push := func(ts ...prompb.TimeSeries) {
		meta := Meta{Tenant: "team-a", Time: testEpoch}
		c, err := v.Check(meta, RW1, marshal(t, ts...))
		require.NoError(t, err)
		defer c.Release()
		v.Record(c, meta)
	}
	// Two conflicts of namespace a in one push count as two.
	push(ksm("a", 1), ksm("a", 0), ksm("a", 3), ksm("b", 1), ksm("b", 1))
	// A third namespace is over the cardinality of 2: it overflows.
	push(ksm("c", 1), ksm("c", 2),
		withSamples(series("__name__", "cadvisor", "job", "cadvisor"), 5, 1, 5, 2))

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP pushguard_attributed_duplicate_samples_total Duplicate samples by the configured attribution labels of their series (-validator.attribution-labels); past -validator.max-attribution-cardinality combinations a tenant's values become __overflow__.
# TYPE pushguard_attributed_duplicate_samples_total counter
pushguard_attributed_duplicate_samples_total{conflict="false",job="kube-state-metrics",kind="across_series",namespace="b",tenant="team-a"} 1
pushguard_attributed_duplicate_samples_total{conflict="true",job="kube-state-metrics",kind="across_series",namespace="a",tenant="team-a"} 2
pushguard_attributed_duplicate_samples_total{conflict="true",job="__overflow__",kind="across_series",namespace="__overflow__",tenant="team-a"} 1
pushguard_attributed_duplicate_samples_total{conflict="true",job="__overflow__",kind="within_series",namespace="__overflow__",tenant="team-a"} 1
# HELP pushguard_duplicate_samples_total Samples that repeat the series and timestamp of an earlier sample, by kind, whether the value conflicts and the action applied.
# TYPE pushguard_duplicate_samples_total counter
pushguard_duplicate_samples_total{action="report",conflict="false",kind="across_series",tenant="team-a"} 1
pushguard_duplicate_samples_total{action="report",conflict="true",kind="across_series",tenant="team-a"} 3
pushguard_duplicate_samples_total{action="report",conflict="true",kind="within_series",tenant="team-a"} 1
`), "pushguard_attributed_duplicate_samples_total", "pushguard_duplicate_samples_total"))
}

func TestValidateAttributionLabels(t *testing.T) {
	for name, tc := range map[string]struct {
		labels []string
		err    string
	}{
		"defaults":    {labels: DefaultAttributionLabels},
		"none":        {},
		"reserved":    {labels: []string{"__replica__"}, err: "reserved"},
		"invalid":     {labels: []string{"a-b"}, err: "not a valid label name"},
		"clash":       {labels: []string{"tenant"}, err: "clashes"},
		"given twice": {labels: []string{"job", "job"}, err: "twice"},
	} {
		t.Run(name, func(t *testing.T) {
			err := ValidateAttributionLabels(tc.labels)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestTenantOriginLabels(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("test", flag.PanicOnError)
	cfg.RegisterFlags(fs)
	path := filepath.Join(t.TempDir(), "runtime.yaml")
	require.NoError(t, os.WriteFile(path, []byte("overrides:\n  team-b:\n    origin_labels: job_name\n"), 0o600))
	o, err := NewOverrides(cfg, RuntimeConfig{File: []string{path}, ReloadPeriod: time.Second}, log.NewNopLogger(), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), o.Service()))
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), o.Service()) })
	v, err := NewWithOverrides(cfg, o, log.NewNopLogger(), prometheus.NewRegistry())
	require.NoError(t, err)
	require.Equal(t, []string{"job_name"}, v.OriginLabels("team-b"))
	require.Equal(t, DefaultOriginLabels, v.OriginLabels("team-a"))
}

// TestRecordActionCounters checks the dropped, changed and relabelled
// counters of a push whose duplicates add up: three samples of one series
// at one timestamp across entries, and two inside one entry.
func TestRecordActionCounters(t *testing.T) {
	for action, want := range map[Action][3]float64{ // dropped, changed, relabelled
		ActionSum:   {3, 2, 0},
		ActionLabel: {0, 0, 3},
	} {
		t.Run(string(action), func(t *testing.T) {
			v, err := New(testConfig(action), log.NewNopLogger(), prometheus.NewRegistry())
			require.NoError(t, err)
			s := series("__name__", "m", "job", "a")
			meta := Meta{Tenant: "t", Time: testEpoch}
			c, err := v.Check(meta, RW1, marshal(t, withSamples(s, 1000, 1), withSamples(s, 1000, 2), withSamples(s, 1000, 3),
				withSamples(series("__name__", "n"), 1000, 1, 1000, 2)))
			require.NoError(t, err)
			defer c.Release()
			v.Record(c, meta)
			require.Equal(t, want, [3]float64{
				testutil.ToFloat64(v.dropped.WithLabelValues("t", string(action))),
				testutil.ToFloat64(v.changed.WithLabelValues("t", string(action))),
				testutil.ToFloat64(v.relabelled.WithLabelValues("t")),
			})
		})
	}
}
