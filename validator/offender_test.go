package validator

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/validator/report"
)

// testEpoch is the time the tests' offenders are seen at.
var testEpoch = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// offenderIndex keys offenders by metric, kind and origin, the order of
// Offenders' result being no part of its contract.
func offenderIndex(t *testing.T, os []*report.Offender) map[string]*report.Offender {
	idx := map[string]*report.Offender{}
	for _, o := range os {
		b, err := json.Marshal(o.Origin)
		require.NoError(t, err)
		k := o.Metric + " " + o.Kind + " " + string(b)
		require.NotContains(t, idx, k, "offender %s twice", k)
		idx[k] = o
	}
	return idx
}

func TestOffendersGrouping(t *testing.T) {
	kjsf := func(ns, jobName, pod string, v float64) prompb.TimeSeries {
		return withSamples(series("__name__", "kube_job_status_failed", "job", "kube-state-metrics", "namespace", ns, "job_name", jobName, "pod", pod), 1000, v)
	}
	in := []prompb.TimeSeries{
		kjsf("renovate", "r-1", "", 1),
		// Another label order: same series, same origin.
		withSamples(series("job_name", "r-1", "namespace", "renovate", "job", "kube-state-metrics", "__name__", "kube_job_status_failed"), 1000, 0),
		kjsf("renovate", "r-2", "", 1),
		kjsf("renovate", "r-2", "", 1),
		kjsf("other", "o-1", "", 1),
		kjsf("other", "o-1", "", 1),
		// A pod label makes another origin.
		kjsf("renovate", "r-3", "p-3", 1),
		kjsf("renovate", "r-3", "p-3", 2),
		withSamples(series("__name__", "kube_job_status_failed", "job", "kube-state-metrics", "namespace", "renovate", "job_name", "r-4"), 1000, 1, 1000, 1),
		withSamples(series("__name__", "up", "job", "node", "instance", "n1:9100"), 1000, 1, 1000, math.NaN()),
		withSamples(series("__name__", "orphan"), 5, 1, 5, 1),
	}
	r := decodeBody(t, marshal(t, in...))
	var res Result
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	var p Patch
	p.Plan(r, &res, StaticPolicy(ActionKeepFirst))
	meta := Meta{Tenant: "team-a", UserAgent: "Prometheus/3.1.0", Time: testEpoch}

	type want struct{ conflicting, identical int64 }
	for name, tc := range map[string]struct {
		originLabels []string
		outcomes     []Outcome
		want         map[string]want
	}{
		"default origin labels": {
			originLabels: DefaultOriginLabels,
			want: map[string]want{
				`kube_job_status_failed across_series {"job":"kube-state-metrics","namespace":"renovate"}`:             {1, 1},
				`kube_job_status_failed across_series {"job":"kube-state-metrics","namespace":"other"}`:                {0, 1},
				`kube_job_status_failed across_series {"job":"kube-state-metrics","namespace":"renovate","pod":"p-3"}`: {1, 0},
				`kube_job_status_failed within_series {"job":"kube-state-metrics","namespace":"renovate"}`:             {0, 1},
				`up within_series {"instance":"n1:9100","job":"node"}`:                                                 {1, 0},
				`orphan within_series {}`: {0, 1},
			},
		},
		"fewer origin labels group more": {
			originLabels: []string{"job"},
			outcomes:     p.Outcomes,
			want: map[string]want{
				`kube_job_status_failed across_series {"job":"kube-state-metrics"}`: {2, 2},
				`kube_job_status_failed within_series {"job":"kube-state-metrics"}`: {0, 1},
				`up within_series {"job":"node"}`:                                   {1, 0},
				`orphan within_series {}`:                                           {0, 1},
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got := offenderIndex(t, Offenders(r, &res, tc.outcomes, tc.originLabels, meta, &Limits{}))
			require.Len(t, got, len(tc.want))
			for k, w := range tc.want {
				o := got[k]
				require.NotNil(t, o, k)
				require.Equal(t, w, want{o.ConflictingSamples, o.IdenticalSamples}, k)
				require.Equal(t, "team-a", o.Tenant)
				require.Equal(t, "Prometheus/3.1.0", o.UserAgent)
				require.Equal(t, testEpoch, o.FirstSeen)
				require.Equal(t, testEpoch, o.LastSeen)
				if tc.outcomes == nil {
					require.Equal(t, string(ActionReport), o.Action, k)
					require.Zero(t, o.DroppedSamples, k)
				} else {
					require.Equal(t, string(ActionKeepFirst), o.Action, k)
					require.Equal(t, o.ConflictingSamples+o.IdenticalSamples, o.DroppedSamples, k)
				}
			}
		})
	}

	noDups := decodeBody(t, marshal(t, in[0], in[2]))
	NewInspector(NewIdentity(nil)).Inspect(noDups, &res)
	require.Nil(t, Offenders(noDups, &res, nil, DefaultOriginLabels, meta, &Limits{}))
}

func TestOffendersExample(t *testing.T) {
	a := series("__name__", "kube_job_status_failed", "namespace", "renovate", "job_name", "r-1")
	aMap := map[string]string{"__name__": "kube_job_status_failed", "namespace": "renovate", "job_name": "r-1"}
	hist := func(c uint64) string { return testHistogram(c).ToFloat(nil).String() }
	for name, tc := range map[string]struct {
		in   []prompb.TimeSeries
		want report.Example
	}{
		"across_series: first_labels name the first series": {
			in: []prompb.TimeSeries{
				withSamples(a, 1000, 1),
				withSamples(series("job_name", "r-1", "pod", "", "namespace", "renovate", "__name__", "kube_job_status_failed"), 1000, 0),
			},
			want: report.Example{Labels: aMap, FirstLabels: aMap, TimestampMs: 1000, Values: []report.Value{1, 0}, Samples: []string{"1", "0"}},
		},
		"within_series: no first_labels": {
			in:   []prompb.TimeSeries{withSamples(a, 1000, 1, 1000, 2)},
			want: report.Example{Labels: aMap, TimestampMs: 1000, Values: []report.Value{1, 2}, Samples: []string{"1", "2"}},
		},
		"histograms as strings": {
			in: []prompb.TimeSeries{
				withHistogram(a, 1000, testHistogram(5)),
				withHistogram(a, 1000, testHistogram(6)),
			},
			want: report.Example{Labels: aMap, FirstLabels: aMap, TimestampMs: 1000, Values: []report.Value{}, Histograms: []string{hist(5), hist(6)}, Samples: []string{hist(5), hist(6)}},
		},
		"float first, then a histogram": {
			in:   []prompb.TimeSeries{withHistogram(withSamples(a, 1000, 3), 1000, testHistogram(5))},
			want: report.Example{Labels: aMap, TimestampMs: 1000, Values: []report.Value{3}, Histograms: []string{hist(5)}, Samples: []string{"3", hist(5)}},
		},
		"a histogram first, then a float: samples keep the order": {
			in: []prompb.TimeSeries{
				withHistogram(a, 1000, testHistogram(5)),
				withSamples(series("job_name", "r-1", "namespace", "renovate", "__name__", "kube_job_status_failed"), 1000, 3),
			},
			want: report.Example{Labels: aMap, FirstLabels: aMap, TimestampMs: 1000, Values: []report.Value{3}, Histograms: []string{hist(5)}, Samples: []string{hist(5), "3"}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := decodeBody(t, marshal(t, tc.in...))
			var res Result
			NewInspector(NewIdentity(nil)).Inspect(r, &res)
			os := Offenders(r, &res, nil, DefaultOriginLabels, Meta{Tenant: "team-a", Time: testEpoch}, &Limits{})
			require.Len(t, os, 1)
			require.Equal(t, tc.want, os[0].Example)
		})
	}
}

// TestOffenderExampleNamesStaleMarkers: a stale marker is a NaN to JSON's
// values, which would show a NaN conflicting with a NaN; samples names it.
func TestOffenderExampleNamesStaleMarkers(t *testing.T) {
	r := decodeBody(t, marshal(t, withSamples(series("__name__", "m", "job", "j"), 1000, math.NaN(), 1000, math.Float64frombits(value.StaleNaN))))
	var res Result
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	os := Offenders(r, &res, nil, DefaultOriginLabels, Meta{Tenant: "team-a", Time: testEpoch}, &Limits{})
	require.Len(t, os, 1)
	require.Equal(t, []string{"NaN", "stale marker"}, os[0].Example.Samples)
}

func TestOffenderExampleShowsTheConflict(t *testing.T) {
	r := decodeBody(t, marshal(t,
		withSamples(series("__name__", "m", "job", "j"), 1, 1),
		withSamples(series("__name__", "m", "job", "j"), 1, 1),
		withSamples(series("__name__", "m", "job", "j"), 1, 2),
	))
	var res Result
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	os := Offenders(r, &res, nil, []string{"job"}, Meta{Tenant: "t"}, &Limits{})
	require.Len(t, os, 1)
	require.EqualValues(t, 1, os[0].ConflictingSamples)
	require.EqualValues(t, 1, os[0].IdenticalSamples)
	require.Equal(t, []report.Value{1, 2}, os[0].Example.Values)
}

// TestOffenderLabelsManyLabels checks the origin and example label maps of
// a series with more labels than originOf and LabelMap keep on the stack,
// some of them empty.
func TestOffenderLabelsManyLabels(t *testing.T) {
	var pairs, originLabels []string
	want := map[string]string{}
	for i := range 24 {
		name, value := fmt.Sprintf("l%02d", i), fmt.Sprintf("value-%d", i)
		if i%5 == 0 {
			value = "" // empty: not a label at all
		} else {
			want[name] = value
		}
		pairs = append(pairs, name, value)
		originLabels = append(originLabels, name)
	}
	s := series(append([]string{"__name__", "m"}, pairs...)...)
	r := decodeBody(t, marshal(t, withSamples(s, 1000, 1), withSamples(s, 1000, 2)))
	var res Result
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	found := Offenders(r, &res, nil, originLabels, Meta{Tenant: "a", Time: testEpoch}, &Limits{})
	require.Len(t, found, 1)
	require.Equal(t, want, found[0].Origin)
	want["__name__"] = "m"
	require.Equal(t, want, found[0].Example.Labels)
}

// TestOffenderExampleReplicas checks the example of two series one
// identity apart only by an ignored label: each label map names its own
// series.
func TestOffenderExampleReplicas(t *testing.T) {
	r := decodeBody(t, marshal(t,
		withSamples(series("__name__", "up", "__replica__", "a", "job", "j"), 1000, 1),
		withSamples(series("__name__", "up", "__replica__", "b", "job", "j"), 1000, 0),
	))
	var res Result
	NewInspector(NewIdentity([]string{"__replica__"})).Inspect(r, &res)
	os := Offenders(r, &res, nil, DefaultOriginLabels, Meta{Tenant: "team-a", Time: testEpoch}, &Limits{})
	require.Len(t, os, 1)
	require.Equal(t, map[string]string{"__name__": "up", "__replica__": "b", "job": "j"}, os[0].Example.Labels)
	require.Equal(t, map[string]string{"__name__": "up", "__replica__": "a", "job": "j"}, os[0].Example.FirstLabels)
}

// TestOffenderKeysFromBytes checks that the keys offenders builds from the
// request's bytes are the keys the report derives from the finished
// offenders (their IDs agree), with label limits cutting metric, origin
// names and values, a label repeated in a series, empty values and an
// origin label configured twice; and that a push repeating known offenders
// builds none of their label maps.
func TestOffenderKeysFromBytes(t *testing.T) {
	long := strings.Repeat("é", 20) // 40 bytes, cut at a rune boundary
	in := []prompb.TimeSeries{
		withSamples(series("__name__", "up", "job", "a", "pod", "p1"), 1000, 1),
		withSamples(series("__name__", "up", "job", "a", "pod", "p1"), 1000, 2),
		withSamples(series("__name__", "up", "job", "a", "pod", "p2", "instance", ""), 1000, 1, 1000, 1),
		withSamples(series("__name__", "m"+long, "job", long+"x", "namespace", "n"), 1000, 1),
		withSamples(series("__name__", "m"+long, "job", long+"x", "namespace", "n"), 1000, 4),
		withSamples(series("__name__", "m"+long, "job", long+"y", "namespace", "n"), 1000, 2),
		withSamples(series("__name__", "m"+long, "job", long+"y", "namespace", "n"), 1000, 3),
		withSamples(series("__name__", "rep", "job", "first", "job", "last", strings.Repeat("origin", 10), "o"), 1000, 1, 1000, 2),
	}
	r := decodeBody(t, marshal(t, in...))
	var res Result
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	lim := &Limits{MaxLabelNameLength: 30, MaxLabelValueLength: 30}
	origin := []string{"pod", "job", "instance", "job", "namespace", strings.Repeat("origin", 10)}
	meta := Meta{Tenant: "team-a", Time: testEpoch}

	lazyStore := report.NewStore(100, prometheus.NewRegistry())
	completed := 0
	record := func() {
		found, lazy := offenders(r, &res, nil, origin, meta, lim)
		complete := lazy.Complete
		lazy.Complete = func(i int, o *report.Offender) { completed++; complete(i, o) }
		lazyStore.RecordWith(found, lazy)
	}
	record()
	eager := report.NewStore(100, prometheus.NewRegistry())
	eager.Record(Offenders(r, &res, nil, origin, meta, lim))

	want, _ := eager.List("team-a", report.Filter{})
	got, _ := lazyStore.List("team-a", report.Filter{})
	// Cut to the same length, the x and y jobs are one offender.
	require.Len(t, want, 4)
	require.Equal(t, 4, completed)
	require.Equal(t, want, got)
	require.Equal(t, "m"+long[:28]+truncationMark, got[0].Metric)
	require.Equal(t, int64(2), got[0].ConflictingSamples)
	for _, o := range got {
		require.LessOrEqual(t, len(o.Metric), 30+len(truncationMark))
		for n, v := range o.Origin {
			require.LessOrEqual(t, len(n), 30+len(truncationMark))
			require.LessOrEqual(t, len(v), 30+len(truncationMark))
		}
	}

	record()
	got, _ = lazyStore.List("team-a", report.Filter{})
	require.Len(t, got, 4, "the same offenders again")
	require.Equal(t, 4, completed, "known offenders are not built again")
	for k := range got {
		require.Equal(t, 2*(want[k].ConflictingSamples+want[k].IdenticalSamples), got[k].ConflictingSamples+got[k].IdenticalSamples)
	}
}
