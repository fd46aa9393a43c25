package validator

import (
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

func TestRules(t *testing.T) {
	rules, err := CompileRules([]RuleConfig{
		{Match: `{__name__=~"kube_.*", job="kube-state-metrics"}`, Kinds: []string{"across_series"}, Action: "label"},
		{Match: `http_requests_total{pod=""}`, Action: "sum"},
		{Match: `{job="ruler"}`, Kinds: []string{"within_series", "across_requests"}, Action: "keep-first"},
		{Action: "keep-last"}, // no selector: every series of... every kind
	}, ActionReport)
	require.NoError(t, err)
	require.Equal(t, ActionReport, rules.Default())

	r := decodeBody(t, marshal(t,
		series("__name__", "kube_job_status_failed", "job", "kube-state-metrics"),
		series("__name__", "http_requests_total", "job", "api", "code", "200"),
		series("__name__", "http_requests_total", "job", "api", "pod", "p-1"),
		series("__name__", "x", "job", "ruler"),
	))
	for name, tc := range map[string]struct {
		series int32
		kind   Kind
		want   Action
	}{
		"selector and kind match":             {0, AcrossSeries, ActionLabel},
		"kind does not: next rule":            {0, WithinSeries, ActionKeepLast},
		"absent label matches empty":          {1, AcrossSeries, ActionSum},
		"present label does not match empty":  {2, AcrossSeries, ActionKeepLast},
		"one of several kinds":                {3, AcrossRequests, ActionKeepFirst},
		"catch-all rule before the default":   {3, AcrossSeries, ActionKeepLast},
		"first match wins over the catch-all": {3, WithinSeries, ActionKeepFirst},
	} {
		t.Run(name, func(t *testing.T) {
			d := &Duplicate{Kind: tc.kind, Sample: SampleRef{Series: tc.series}}
			require.Equal(t, tc.want, rules.ActionFor(r, d))
		})
	}

	t.Run("default when nothing matches", func(t *testing.T) {
		rules, err := CompileRules([]RuleConfig{{Match: `{job="nope"}`, Action: "reject"}}, ActionKeepFirst)
		require.NoError(t, err)
		require.Equal(t, ActionKeepFirst, rules.ActionFor(r, &Duplicate{Kind: AcrossSeries}))
	})
}

func TestRulesMatchWithoutAllocating(t *testing.T) {
	rules, err := CompileRules([]RuleConfig{
		{Match: `{__name__=~"kube_.*", namespace!="kube-system"}`, Action: "label"},
	}, ActionReport)
	require.NoError(t, err)
	r := decodeBody(t, marshal(t, withSamples(series("__name__", "kube_pod_info", "namespace", "renovate"), 1, 1)))
	d := &Duplicate{Kind: AcrossSeries}
	require.Equal(t, ActionLabel, rules.ActionFor(r, d))
	require.Zero(t, testing.AllocsPerRun(100, func() { rules.ActionFor(r, d) }))
}

func TestCompileRulesErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		rule RuleConfig
		want string
	}{
		"bad selector":   {RuleConfig{Match: `{job=~"("}`, Action: "sum"}, `rule 1 (match "{job=~\"(\"}"): invalid series selector`},
		"not a selector": {RuleConfig{Match: `rate(x[5m])`, Action: "sum"}, `rule 1 (match "rate(x[5m])"): invalid series selector`},
		"unknown kind":   {RuleConfig{Match: `up`, Kinds: []string{"across_tenants"}, Action: "sum"}, `unknown kind "across_tenants"`},
		"unknown action": {RuleConfig{Match: `up`, Action: "average"}, `unknown action "average"`},
		"no action":      {RuleConfig{Match: `up`}, `no action`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := CompileRules([]RuleConfig{tc.rule}, ActionReport)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// A rule's action applies to its whole duplicate group, decided by the
// group's first duplicate.
func TestRulesDecidePerGroup(t *testing.T) {
	rules, err := CompileRules([]RuleConfig{
		{Match: `{__name__="kube_job_status_failed"}`, Action: "keep-last"},
		{Match: `{__name__="http_requests_total"}`, Action: "sum"},
	}, ActionReport)
	require.NoError(t, err)
	ksm := func(v float64) prompb.TimeSeries {
		return withSamples(series("__name__", "kube_job_status_failed", "job_name", "r"), 1000, v)
	}
	reqs := func(v float64, pod string) prompb.TimeSeries {
		return withSamples(series("__name__", "http_requests_total", "pod", pod), 1000, v)
	}
	in := []prompb.TimeSeries{ksm(1), reqs(3, ""), ksm(0), reqs(4, ""), withSamples(series("__name__", "up"), 1000, 1, 1000, 1)}
	r := decodeBody(t, marshal(t, in...))
	var res Result
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	var p Patch
	require.True(t, p.Plan(r, &res, rules))
	got := unmarshal(t, p.Encode(r))
	// keep-last and sum both write what the group keeps at its first sample.
	want := []prompb.TimeSeries{
		ksm(0),
		withSamples(series("__name__", "http_requests_total", "pod", ""), 1000, 7),
		withSamples(series("__name__", "up"), 1000, 1, 1000, 1), // report: untouched
	}
	requireSameMessages(t, seriesPtrs(want), seriesPtrs(got.Timeseries), "series")
	require.Equal(t, 2, p.Dropped)
	require.Equal(t, 1, p.Changed)
}
