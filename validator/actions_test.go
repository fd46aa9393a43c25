package validator

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

func planAndEncode(t *testing.T, in []prompb.TimeSeries, policy Policy, label string) (*Patch, prompb.WriteRequest) {
	t.Helper()
	r := decodeBody(t, marshal(t, in...))
	var res Result
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	p := &Patch{LabelName: label}
	p.Plan(r, &res, policy)
	return p, unmarshal(t, p.Encode(r))
}

// TestLabelActionStaysWithinTheLabelLimit: a group the disambiguation
// label would take over the upstream's label limit is kept as keep-first
// keeps it, since the upstream would refuse the labelled series and with
// it the whole push.
func TestLabelActionStaysWithinTheLabelLimit(t *testing.T) {
	withLabels := func(n int, v float64, extra ...string) prompb.TimeSeries {
		lbls := []string{"__name__", "m"}
		for i := 1; i < n; i++ {
			lbls = append(lbls, fmt.Sprintf("l%02d", i), "v")
		}
		return withSamples(series(append(lbls, extra...)...), 1000, v)
	}
	plan := func(in ...prompb.TimeSeries) (*Patch, prompb.WriteRequest) {
		r := decodeBody(t, marshal(t, in...))
		var res Result
		NewInspector(NewIdentity(nil)).Inspect(r, &res)
		p := &Patch{MaxLabelNames: 30}
		p.Plan(r, &res, StaticPolicy(ActionLabel))
		return p, unmarshal(t, p.Encode(r))
	}

	p, got := plan(withLabels(30, 1), withLabels(30, 2))
	require.Equal(t, []Outcome{{Action: ActionKeepFirst, Requested: ActionLabel, Dropped: 1}}, p.Outcomes)
	requireSameMessages(t, seriesPtrs([]prompb.TimeSeries{withLabels(30, 1)}), seriesPtrs(got.Timeseries), "series")

	p, _ = plan(withLabels(29, 1), withLabels(29, 2))
	require.Equal(t, []Outcome{{Action: ActionLabel, Relabelled: 1}}, p.Outcomes, "29 labels and the disambiguation label are 30")

	p, _ = plan(withLabels(29, 1, "duplicate_index", "2"), withLabels(29, 2, "duplicate_index", "2"))
	require.Equal(t, []Outcome{{Action: ActionLabel, Relabelled: 1}}, p.Outcomes, "a label of that name is replaced, not added")

	p, _ = plan(withLabels(29, 1, "zz_empty", ""), withLabels(29, 2, "zz_empty", ""))
	require.Equal(t, []Outcome{{Action: ActionLabel, Relabelled: 1}}, p.Outcomes, "a label with an empty value is no label upstream")
}

func TestLabelAction(t *testing.T) {
	ksm := func(v float64, extra ...string) prompb.TimeSeries {
		return withSamples(series(append([]string{"__name__", "kube_job_status_failed", "job_name", "r-1", "namespace", "renovate"}, extra...)...), 1000, v)
	}
	// A copy labelled by pushguard, the label in its sorted place.
	labelled := func(v float64, index string) prompb.TimeSeries {
		return withSamples(series("__name__", "kube_job_status_failed", "duplicate_index", index, "job_name", "r-1", "namespace", "renovate"), 1000, v)
	}
	t.Run("second and third series get 1 and 2, in label order", func(t *testing.T) {
		other := withSamples(series("__name__", "up"), 1000, 1)
		p, got := planAndEncode(t, []prompb.TimeSeries{ksm(1), other, ksm(0), ksm(2)}, StaticPolicy(ActionLabel), "")
		want := []prompb.TimeSeries{
			ksm(1), other,
			withSamples(series("__name__", "kube_job_status_failed", "duplicate_index", "1", "job_name", "r-1", "namespace", "renovate"), 1000, 0),
			withSamples(series("__name__", "kube_job_status_failed", "duplicate_index", "2", "job_name", "r-1", "namespace", "renovate"), 1000, 2),
		}
		requireSameMessages(t, seriesPtrs(want), seriesPtrs(got.Timeseries), "series")
		require.Equal(t, 2, p.Relabelled)
		for _, o := range p.Outcomes {
			require.Equal(t, Outcome{Action: ActionLabel, Relabelled: 1}, o)
		}
	})
	t.Run("configured name, appended when it sorts last, and only colliding samples move", func(t *testing.T) {
		first := withExemplar(withSamples(series("__name__", "m", "a", "x"), 1000, 1, 2000, 2), 2000, 2, "cafe")
		second := withExemplar(withSamples(series("__name__", "m", "a", "x"), 1000, 5, 3000, 6), 3000, 6, "beef")
		_, got := planAndEncode(t, []prompb.TimeSeries{first, second}, StaticPolicy(ActionLabel), "zz_replica")
		want := []prompb.TimeSeries{
			first,
			withExemplar(withSamples(series("__name__", "m", "a", "x"), 3000, 6), 3000, 6, "beef"),
			withSamples(series("__name__", "m", "a", "x", "zz_replica", "1"), 1000, 5),
		}
		requireSameMessages(t, seriesPtrs(want), seriesPtrs(got.Timeseries), "series")
	})
	t.Run("within one series the repeats are split off", func(t *testing.T) {
		in := withSamples(series("__name__", "m", "job", "a"), 1000, 1, 1000, 2, 1000, 3, 2000, 4)
		_, got := planAndEncode(t, []prompb.TimeSeries{in}, StaticPolicy(ActionLabel), "")
		want := []prompb.TimeSeries{
			withSamples(series("__name__", "m", "job", "a"), 1000, 1, 2000, 4),
			withSamples(series("__name__", "m", "duplicate_index", "1", "job", "a"), 1000, 2),
			withSamples(series("__name__", "m", "duplicate_index", "2", "job", "a"), 1000, 3),
		}
		requireSameMessages(t, seriesPtrs(want), seriesPtrs(got.Timeseries), "series")
	})
	t.Run("an empty label of that name is replaced", func(t *testing.T) {
		in := []prompb.TimeSeries{ksm(1, "duplicate_index", ""), ksm(0, "duplicate_index", "")}
		_, got := planAndEncode(t, in, StaticPolicy(ActionLabel), "")
		require.Equal(t, []prompb.Label{
			{Name: "__name__", Value: "kube_job_status_failed"}, {Name: "job_name", Value: "r-1"},
			{Name: "namespace", Value: "renovate"}, {Name: "duplicate_index", Value: "1"},
		}, got.Timeseries[1].Labels)
	})
	// The value a series already has, or a series the request holds at
	// the timestamp, is not used: the moved sample would collide with it
	// and the upstream keep only one of the two.
	t.Run("a value the request holds at the timestamp is skipped", func(t *testing.T) {
		own := ksm(3, "duplicate_index", "1")
		p, got := planAndEncode(t, []prompb.TimeSeries{ksm(1), ksm(2), own}, StaticPolicy(ActionLabel), "")
		want := []prompb.TimeSeries{ksm(1), labelled(2, "2"), own}
		requireSameMessages(t, seriesPtrs(want), seriesPtrs(got.Timeseries), "series")
		require.Equal(t, 1, p.Relabelled)
		require.Zero(t, p.Dropped)
	})
	t.Run("series that already carry the value get the next", func(t *testing.T) {
		_, got := planAndEncode(t, []prompb.TimeSeries{ksm(1, "duplicate_index", "1"), ksm(2, "duplicate_index", "1")}, StaticPolicy(ActionLabel), "")
		want := []prompb.TimeSeries{ksm(1, "duplicate_index", "1"), ksm(2, "duplicate_index", "2")}
		requireSameMessages(t, seriesPtrs(want), seriesPtrs(got.Timeseries), "series")
	})
	t.Run("two groups that would meet in one labelled series", func(t *testing.T) {
		// {a} and {a, duplicate_index="7"} both label their second copy:
		// the first gets 1, the second, whose 1 is now taken, 2.
		in := []prompb.TimeSeries{ksm(1), ksm(2), ksm(3, "duplicate_index", "7"), ksm(4, "duplicate_index", "7")}
		_, got := planAndEncode(t, in, StaticPolicy(ActionLabel), "")
		want := []prompb.TimeSeries{ksm(1), labelled(2, "1"), ksm(3, "duplicate_index", "7"), ksm(4, "duplicate_index", "2")}
		requireSameMessages(t, seriesPtrs(want), seriesPtrs(got.Timeseries), "series")
	})
	t.Run("a value held at another timestamp only is used", func(t *testing.T) {
		own := withSamples(series("__name__", "kube_job_status_failed", "job_name", "r-1", "namespace", "renovate", "duplicate_index", "1"), 2000, 3)
		_, got := planAndEncode(t, []prompb.TimeSeries{ksm(1), ksm(2), own}, StaticPolicy(ActionLabel), "")
		want := []prompb.TimeSeries{ksm(1), labelled(2, "1"), own}
		requireSameMessages(t, seriesPtrs(want), seriesPtrs(got.Timeseries), "series")
	})
}

// Duplicates of samples forwarded in earlier requests: only report,
// keep-first and reject apply; the others fall back to keep-first.
func TestAcrossRequestsFallback(t *testing.T) {
	in := []prompb.TimeSeries{
		withSamples(series("__name__", "m", "job", "a"), 1000, 1, 2000, 2),
		withSamples(series("__name__", "n"), 1000, 3),
	}
	for _, a := range Actions {
		t.Run(string(a), func(t *testing.T) {
			r := decodeBody(t, marshal(t, in...))
			// What the record of forwarded timestamps reports: the sample at
			// 1000 of series 0 was forwarded before.
			res := Result{Duplicates: []Duplicate{{Kind: AcrossRequests, Conflicting: true, TimestampMs: 1000, Sample: SampleRef{Series: 0, Index: 0}, First: SampleRef{Series: 0, Index: 0}}}}
			var p Patch
			changed := p.Plan(r, &res, StaticPolicy(a))
			o := p.Outcomes[0]
			switch a {
			case ActionReport:
				require.False(t, changed)
				require.Equal(t, Outcome{Action: a}, o)
			case ActionReject:
				require.True(t, p.Rejected)
				require.ErrorContains(t, p.RejectError(r, &res), `{__name__="m", job="a"} at 1000 (already forwarded): value 1`)
			default:
				require.True(t, changed)
				want := Outcome{Action: ActionKeepFirst, Dropped: 1}
				if a != ActionKeepFirst {
					want.Requested = a
				}
				require.Equal(t, want, o)
				got := unmarshal(t, p.Encode(r))
				requireSameMessages(t, seriesPtrs([]prompb.TimeSeries{
					withSamples(series("__name__", "m", "job", "a"), 2000, 2), in[1],
				}), seriesPtrs(got.Timeseries), "series")
			}
		})
	}
}

// TestExemplarsOfASeriesLeftWithoutSamples: a TimeSeries entry whose
// every sample an action removes still takes its exemplars upstream, as an
// entry of exemplars only; they repeat nothing.
func TestExemplarsOfASeriesLeftWithoutSamples(t *testing.T) {
	first := withSamples(series("__name__", "m", "job", "a"), 1000, 1)
	second := withExemplar(withSamples(series("__name__", "m", "job", "a"), 1000, 2), 999, 2, "cafe")
	for _, action := range []Action{ActionKeepFirst, ActionKeepLast, ActionKeepMax, ActionKeepMin, ActionSum} {
		t.Run(string(action), func(t *testing.T) {
			p, got := planAndEncode(t, []prompb.TimeSeries{first, second}, StaticPolicy(action), "")
			require.Equal(t, 1, p.Dropped)
			require.Len(t, got.Timeseries, 2)
			require.Len(t, got.Timeseries[0].Samples, 1)
			require.Empty(t, got.Timeseries[1].Samples)
			require.Equal(t, second.Labels, got.Timeseries[1].Labels)
			require.Equal(t, second.Exemplars, got.Timeseries[1].Exemplars)
		})
	}
	t.Run("without exemplars the entry goes", func(t *testing.T) {
		_, got := planAndEncode(t, []prompb.TimeSeries{first, withSamples(series("__name__", "m", "job", "a"), 1000, 2)}, StaticPolicy(ActionKeepFirst), "")
		require.Len(t, got.Timeseries, 1)
	})
}

func TestRejectMessage(t *testing.T) {
	var in []prompb.TimeSeries
	for i := range 12 {
		name := fmt.Sprintf("m%02d", i)
		in = append(in, withSamples(series("__name__", name), 1000, 1), withSamples(series("__name__", name), 1000, 2))
	}
	r := decodeBody(t, marshal(t, in...))
	var res Result
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	var p Patch
	p.Plan(r, &res, StaticPolicy(ActionReject))
	require.True(t, p.Rejected)
	msg := p.RejectError(r, &res).Error()
	require.True(t, strings.HasPrefix(msg, `push refused: 12 samples repeat the series and timestamp of another sample: {__name__="m00"} at 1000: values 1, 2; `), msg)
	require.True(t, strings.HasSuffix(msg, "; and 2 more (err-pushguard-sample-duplicate-timestamp)"), msg)
	require.Equal(t, 10, strings.Count(msg, " at 1000: "))
}

func TestRejectMessageNamesStaleMarkers(t *testing.T) {
	stale := math.Float64frombits(value.StaleNaN)
	r := decodeBody(t, marshal(t, withSamples(series("__name__", "m"), 1000, math.NaN(), 1000, stale)))
	var res Result
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	var p Patch
	p.Plan(r, &res, StaticPolicy(ActionReject))
	require.True(t, p.Rejected)
	require.ErrorContains(t, p.RejectError(r, &res), `{__name__="m"} at 1000: values NaN, stale marker`)

	staleHist := testHistogram(0)
	staleHist.Sum = stale
	r = decodeBody(t, marshal(t, withHistogram(withHistogram(series("__name__", "h"), 1000, testHistogram(2)), 1000, staleHist)))
	res = Result{}
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	p.Plan(r, &res, StaticPolicy(ActionReject))
	require.ErrorContains(t, p.RejectError(r, &res), `, stale marker (native histogram)`)
}

func TestSumAndExtremesOfHistograms(t *testing.T) {
	h := func(count uint64) prompb.TimeSeries {
		return withHistogram(series("__name__", "latency_seconds", "pod", ""), 10, testHistogram(count))
	}
	for name, tc := range map[string]struct {
		action    Action
		wantCount uint64
	}{
		"keep-max keeps the most observations":   {ActionKeepMax, 5},
		"keep-min keeps the fewest observations": {ActionKeepMin, 2},
		"sum adds them":                          {ActionSum, 10},
	} {
		t.Run(name, func(t *testing.T) {
			p, got := planAndEncode(t, []prompb.TimeSeries{h(3), h(5), h(2)}, StaticPolicy(tc.action), "")
			require.Len(t, got.Timeseries, 1)
			require.Len(t, got.Timeseries[0].Histograms, 1)
			out := got.Timeseries[0].Histograms[0]
			require.False(t, out.IsFloatHistogram())
			require.Equal(t, tc.wantCount, out.GetCountInt())
			require.Equal(t, int64(10), out.Timestamp)
			require.Equal(t, 2, p.Dropped)
		})
	}
	t.Run("a zero threshold Prometheus cannot add: keep-first, said so", func(t *testing.T) {
		for _, threshold := range []float64{math.NaN(), -1, math.Inf(1)} {
			odd := testHistogram(5)
			odd.ZeroThreshold = threshold
			in := []prompb.TimeSeries{h(3), withHistogram(series("__name__", "latency_seconds", "pod", ""), 10, odd)}
			p, got := planAndEncode(t, in, StaticPolicy(ActionSum), "")
			requireSameMessages(t, seriesPtrs(in[:1]), seriesPtrs(got.Timeseries), "series")
			require.Equal(t, []Outcome{{Action: ActionKeepFirst, Requested: ActionSum, Dropped: 1}}, p.Outcomes, "zero threshold %v", threshold)
		}
	})
	t.Run("a float and a histogram cannot be summed: keep-first, said so", func(t *testing.T) {
		in := []prompb.TimeSeries{withSamples(series("__name__", "latency_seconds"), 10, 1), h(3)}
		p, got := planAndEncode(t, in, StaticPolicy(ActionSum), "")
		requireSameMessages(t, seriesPtrs(in[:1]), seriesPtrs(got.Timeseries), "series")
		require.Equal(t, []Outcome{{Action: ActionKeepFirst, Requested: ActionSum, Dropped: 1}}, p.Outcomes)
	})
}
