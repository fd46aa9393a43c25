package validator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// testMetadata rides along in every patch test request: a patch must carry
// the WriteRequest's metadata field across untouched.
var testMetadata = []prompb.MetricMetadata{
	{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "kube_job_status_failed", Help: "The number of pods which reached Phase Failed."},
	{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "http_requests_total", Help: "Requests served.", Unit: "requests"},
}

func marshalRequest(t testing.TB, md []prompb.MetricMetadata, ts ...prompb.TimeSeries) []byte {
	t.Helper()
	wr := prompb.WriteRequest{Timeseries: ts, Metadata: md}
	b, err := wr.Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, b)
}

func withExemplar(ts prompb.TimeSeries, t int64, v float64, traceID string) prompb.TimeSeries {
	ts.Exemplars = append(ts.Exemplars, prompb.Exemplar{Labels: []prompb.Label{{Name: "trace_id", Value: traceID}}, Value: v, Timestamp: t})
	return ts
}

func withFloatHistogram(ts prompb.TimeSeries, t int64, count uint64) prompb.TimeSeries {
	ts.Histograms = append(ts.Histograms, prompb.FromFloatHistogram(t, testHistogram(count).ToFloat(nil)))
	return ts
}

// keepFirstWant returns the series a keep-first patch must produce when it
// drops the given samples and histograms (per input series, by index), and
// for each of them the input series it is a byte-for-byte copy of, or -1.
func keepFirstWant(in []prompb.TimeSeries, dropSamples, dropHists map[int][]int) (want []prompb.TimeSeries, from []int) {
	for i, ts := range in {
		if len(dropSamples[i]) == 0 && len(dropHists[i]) == 0 {
			want = append(want, ts)
			from = append(from, i)
			continue
		}
		patched := prompb.TimeSeries{Labels: ts.Labels, Exemplars: ts.Exemplars}
		for k, s := range ts.Samples {
			if !slices.Contains(dropSamples[i], k) {
				patched.Samples = append(patched.Samples, s)
			}
		}
		for k, h := range ts.Histograms {
			if !slices.Contains(dropHists[i], k) {
				patched.Histograms = append(patched.Histograms, h)
			}
		}
		if len(patched.Samples)+len(patched.Histograms) == 0 {
			continue // a series left with no sample disappears
		}
		want = append(want, patched)
		from = append(from, -1)
	}
	return want, from
}

type marshaler interface{ Marshal() ([]byte, error) }

// requireSameMessages compares messages by their encoding, so that floats,
// NaN payloads included, are compared bit for bit, and order matters.
func requireSameMessages[M marshaler](t testing.TB, want, got []M, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		w, err := want[i].Marshal()
		require.NoError(t, err)
		g, err := got[i].Marshal()
		require.NoError(t, err)
		require.Equal(t, w, g, "%s %d", what, i)
	}
}

func seriesPtrs(ts []prompb.TimeSeries) []*prompb.TimeSeries {
	out := make([]*prompb.TimeSeries, len(ts))
	for i := range ts {
		out[i] = &ts[i]
	}
	return out
}

func metadataPtrs(md []prompb.MetricMetadata) []*prompb.MetricMetadata {
	out := make([]*prompb.MetricMetadata, len(md))
	for i := range md {
		out[i] = &md[i]
	}
	return out
}

// requireReportUnchanged checks that under report nothing is planned and
// that encoding anyway reproduces the request byte for byte.
func requireReportUnchanged(t testing.TB, r *Request, res *Result) {
	t.Helper()
	var p Patch
	require.False(t, p.Plan(r, res, StaticPolicy(ActionReport)))
	require.Zero(t, p.Dropped)
	require.Len(t, p.Outcomes, len(res.Duplicates))
	for _, o := range p.Outcomes {
		require.Equal(t, Outcome{Action: ActionReport}, o)
	}
	out, err := snappy.Decode(nil, p.Encode(r))
	require.NoError(t, err)
	require.Equal(t, r.Buf, out)
}

func TestPatch(t *testing.T) {
	ksm := func(v float64) prompb.TimeSeries {
		return withSamples(series("__name__", "kube_job_status_failed", "job", "kube-state-metrics", "namespace", "renovate", "job_name", "r-1"), 1000, v)
	}
	other := withExemplar(withSamples(series("__name__", "up", "job", "x"), 1000, 1, 2000, 1), 2000, 1, "cafe")
	metaOnly := series("__name__", "no_samples", "job", "x")
	stale := math.Float64frombits(value.StaleNaN)
	for name, tc := range map[string]struct {
		in                     []prompb.TimeSeries
		dropSamples, dropHists map[int][]int
	}{
		"no duplicates": {in: []prompb.TimeSeries{other, ksm(1), metaOnly}},
		"within_series": {
			in:          []prompb.TimeSeries{other, withExemplar(withSamples(series("__name__", "m", "job", "a"), 1000, 1, 1000, 2, 2000, 3), 1000, 1, "beef"), metaOnly},
			dropSamples: map[int][]int{1: {1}},
		},
		"within_series unsorted, identical repeat": {
			in:          []prompb.TimeSeries{withSamples(series("__name__", "m"), 2000, 1, 1000, 2, 2000, 1)},
			dropSamples: map[int][]int{0: {2}},
		},
		"across_series: the repeating series disappears": {
			in:          []prompb.TimeSeries{ksm(1), other, ksm(0)},
			dropSamples: map[int][]int{2: {0}},
		},
		"across_series: the repeating series keeps its other samples and exemplars": {
			in: []prompb.TimeSeries{
				withSamples(series("__name__", "m", "job", "a"), 1000, 1),
				withExemplar(withSamples(series("__name__", "m", "job", "a"), 1000, 5, 2000, 6), 2000, 6, "f00d"),
				other,
			},
			dropSamples: map[int][]int{1: {0}},
		},
		"across_series: label order and empty labels do not matter": {
			in: []prompb.TimeSeries{
				withSamples(series("__name__", "m", "a", "1", "b", "2"), 5, 1),
				withSamples(series("b", "2", "x", "", "a", "1", "__name__", "m"), 5, 2, 6, 3),
			},
			dropSamples: map[int][]int{1: {0}},
		},
		"across_series: three copies keep the first": {
			in:          []prompb.TimeSeries{ksm(1), metaOnly, ksm(1), other, ksm(2)},
			dropSamples: map[int][]int{2: {0}, 4: {0}},
		},
		"within and across in one group": {
			in: []prompb.TimeSeries{
				withSamples(series("__name__", "m"), 10, 1),
				withSamples(series("__name__", "m"), 10, 1, 10, 3, 20, 4),
			},
			dropSamples: map[int][]int{1: {0, 1}},
		},
		"histograms across_series": {
			in: []prompb.TimeSeries{
				withHistogram(series("__name__", "h", "job", "a"), 10, testHistogram(5)),
				other,
				withHistogram(withHistogram(series("__name__", "h", "job", "a"), 10, testHistogram(6)), 20, testHistogram(7)),
			},
			dropHists: map[int][]int{2: {0}},
		},
		"histograms within_series": {
			in: []prompb.TimeSeries{
				withHistogram(withHistogram(withHistogram(series("__name__", "h"), 10, testHistogram(5)), 10, testHistogram(5)), 20, testHistogram(1)),
			},
			dropHists: map[int][]int{0: {1}},
		},
		"float histograms across_series": {
			in: []prompb.TimeSeries{
				withFloatHistogram(series("__name__", "fh"), 10, 3),
				withFloatHistogram(series("__name__", "fh"), 10, 4),
			},
			dropHists: map[int][]int{1: {0}},
		},
		"float first, then a histogram at its timestamp": {
			in: []prompb.TimeSeries{
				withSamples(series("__name__", "h"), 10, 1),
				withHistogram(series("__name__", "h"), 10, testHistogram(1)),
			},
			dropHists: map[int][]int{1: {0}},
		},
		"histogram first, then a float at its timestamp": {
			in: []prompb.TimeSeries{
				withHistogram(series("__name__", "h"), 10, testHistogram(1)),
				withSamples(series("__name__", "h"), 10, 1, 20, 2),
			},
			dropSamples: map[int][]int{1: {0}},
		},
		"float and histogram in one series at one timestamp": {
			in:        []prompb.TimeSeries{withHistogram(withSamples(series("__name__", "h"), 10, 1, 20, 2), 20, testHistogram(1))},
			dropHists: map[int][]int{0: {0}},
		},
		"NaN": {
			in:          []prompb.TimeSeries{ksm(math.NaN()), ksm(math.NaN())},
			dropSamples: map[int][]int{1: {0}},
		},
		"stale marker and NaN payloads are kept bit for bit": {
			in: []prompb.TimeSeries{
				ksm(stale), ksm(math.NaN()), ksm(1),
				withSamples(series("__name__", "p"), 1, math.Float64frombits(0x7ff8000000000001), 1, math.Float64frombits(0x7ff8000000000002), 2, math.Inf(-1)),
			},
			dropSamples: map[int][]int{1: {0}, 2: {0}, 3: {1}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			body := marshalRequest(t, testMetadata, tc.in...)
			r := decodeBody(t, body)
			var res Result
			NewInspector(NewIdentity(nil)).Inspect(r, &res)
			want, from := keepFirstWant(tc.in, tc.dropSamples, tc.dropHists)
			wantDropped := 0
			for _, ks := range tc.dropSamples {
				wantDropped += len(ks)
			}
			for _, ks := range tc.dropHists {
				wantDropped += len(ks)
			}

			t.Run("report", func(t *testing.T) {
				requireReportUnchanged(t, r, &res)
			})

			t.Run("keep-first", func(t *testing.T) {
				var p Patch
				require.Equal(t, wantDropped > 0, p.Plan(r, &res, StaticPolicy(ActionKeepFirst)))
				require.Equal(t, wantDropped, p.Dropped)
				require.Len(t, p.Outcomes, len(res.Duplicates))
				for _, o := range p.Outcomes {
					require.Equal(t, Outcome{Action: ActionKeepFirst, Dropped: 1}, o)
				}
				out := p.Encode(r)

				got := unmarshal(t, out)
				requireSameMessages(t, seriesPtrs(want), seriesPtrs(got.Timeseries), "series")
				requireSameMessages(t, metadataPtrs(testMetadata), metadataPtrs(got.Metadata), "metadata")
				// The patched request is exactly what encoding the wanted
				// request gives: fields and series in their original order.
				wantProto, err := (&prompb.WriteRequest{Timeseries: want, Metadata: testMetadata}).Marshal()
				require.NoError(t, err)
				require.Equal(t, wantProto, p.Protobuf())

				// Untouched series are the input's bytes, not a re-encoding.
				patched := decodeBody(t, out)
				require.Len(t, patched.Series, len(want))
				for j, i := range from {
					if i >= 0 {
						require.Equal(t, r.Bytes(r.Series[i].Raw), patched.Bytes(patched.Series[j].Raw), "series %d", j)
					}
				}
			})
		})
	}
}

// identityKey computes a series identity independently of Identity: labels
// with a value, sorted by name.
func identityKey(ls []prompb.Label) string {
	var pairs []string
	for _, l := range ls {
		if l.Value != "" {
			pairs = append(pairs, l.Name+"\x00"+l.Value)
		}
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "\x01")
}

type groupKey struct {
	identity string
	ts       int64
}

// groupValue is what decides whether a repeat conflicts with the first
// sample of its group: float bits, or the encoded histogram.
type groupValue struct {
	hist bool
	bits uint64
	raw  string
}

func histogramValue(t testing.TB, h prompb.Histogram) groupValue {
	b, err := h.Marshal()
	require.NoError(t, err)
	return groupValue{hist: true, raw: string(b)}
}

// randomRequest generates a request whose series are drawn from a few
// identities, so that groups form within and across series, with labels in
// random order and random empty labels.
func randomRequest(rng *rand.Rand) []prompb.TimeSeries {
	identities := make([][]prompb.Label, 1+rng.IntN(5))
	for k := range identities {
		identities[k] = []prompb.Label{
			{Name: "__name__", Value: []string{"up", "kube_pod_info"}[rng.IntN(2)]},
			{Name: "job", Value: []string{"a", "b"}[rng.IntN(2)]},
		}
		if rng.IntN(2) == 0 {
			identities[k] = append(identities[k], prompb.Label{Name: "pod", Value: "p"})
		}
	}
	// No -0: gogo's proto3 marshaller leaves out a value that == 0, so -0
	// would reach the wire as +0.
	values := []float64{0, 1, 2.5, math.Inf(1), math.NaN(), math.Float64frombits(value.StaleNaN)}
	in := make([]prompb.TimeSeries, 1+rng.IntN(10))
	for i := range in {
		ls := slices.Clone(identities[rng.IntN(len(identities))])
		for _, name := range []string{"a_empty", "pod", "zz_empty"} {
			if rng.IntN(3) == 0 && !slices.ContainsFunc(ls, func(l prompb.Label) bool { return l.Name == name }) {
				ls = append(ls, prompb.Label{Name: name})
			}
		}
		if rng.IntN(2) == 0 {
			rng.Shuffle(len(ls), func(a, b int) { ls[a], ls[b] = ls[b], ls[a] })
		} else {
			slices.SortFunc(ls, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
		}
		in[i].Labels = ls
		for range rng.IntN(5) {
			in[i].Samples = append(in[i].Samples, prompb.Sample{Timestamp: 1000 * int64(rng.IntN(4)), Value: values[rng.IntN(len(values))]})
		}
		if rng.IntN(4) == 0 {
			for range 1 + rng.IntN(2) {
				in[i].Histograms = append(in[i].Histograms, prompb.FromIntHistogram(1000*int64(rng.IntN(4)), testHistogram(1+uint64(rng.IntN(2)))))
			}
		}
	}
	return in
}

func TestPatchKeepFirstProperties(t *testing.T) {
	inspector := NewInspector(NewIdentity(nil))
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		for n := range 50 {
			in := randomRequest(rng)
			msg := fmt.Sprintf("seed %d request %d", seed, n)

			// The model: walk the request in order; a sample repeats when
			// its (identity, timestamp) was seen before, and conflicts when
			// it differs from the group's first sample.
			first := map[groupKey]groupValue{}
			dropSamples, dropHists := map[int][]int{}, map[int][]int{}
			repeats, conflicting, inputSamples := 0, 0, 0
			see := func(g groupKey, v groupValue) bool {
				f, ok := first[g]
				if !ok {
					first[g] = v
					return false
				}
				repeats++
				if f != v {
					conflicting++
				}
				return true
			}
			for i, ts := range in {
				id := identityKey(ts.Labels)
				for k, s := range ts.Samples {
					if see(groupKey{id, s.Timestamp}, groupValue{bits: math.Float64bits(s.Value)}) {
						dropSamples[i] = append(dropSamples[i], k)
					}
				}
				for k, h := range ts.Histograms {
					if see(groupKey{id, h.Timestamp}, histogramValue(t, h)) {
						dropHists[i] = append(dropHists[i], k)
					}
				}
				inputSamples += len(ts.Samples) + len(ts.Histograms)
			}

			r := decodeBody(t, marshalRequest(t, testMetadata, in...))
			var res Result
			inspector.Inspect(r, &res)
			gotConflicting, gotIdentical := res.Counts()
			require.Equal(t, repeats, gotConflicting+gotIdentical, msg)
			require.Equal(t, conflicting, gotConflicting, msg)

			requireReportUnchanged(t, r, &res)

			var p Patch
			require.Equal(t, repeats > 0, p.Plan(r, &res, StaticPolicy(ActionKeepFirst)), msg)
			require.Equal(t, repeats, p.Dropped, msg)
			got := unmarshal(t, p.Encode(r))

			outputSamples := 0
			seen := map[groupKey]bool{}
			for _, ts := range got.Timeseries {
				id := identityKey(ts.Labels)
				for _, s := range ts.Samples {
					require.False(t, seen[groupKey{id, s.Timestamp}], "%s: %s@%d twice", msg, id, s.Timestamp)
					seen[groupKey{id, s.Timestamp}] = true
				}
				for _, h := range ts.Histograms {
					require.False(t, seen[groupKey{id, h.Timestamp}], "%s: %s@%d twice", msg, id, h.Timestamp)
					seen[groupKey{id, h.Timestamp}] = true
				}
				outputSamples += len(ts.Samples) + len(ts.Histograms)
			}
			require.Equal(t, inputSamples-p.Dropped, outputSamples, msg)

			// Every sample that was not a repeat is there, bit for bit and
			// in order, and nothing else is.
			want, _ := keepFirstWant(in, dropSamples, dropHists)
			requireSameMessages(t, seriesPtrs(want), seriesPtrs(got.Timeseries), msg)
			requireSameMessages(t, metadataPtrs(testMetadata), metadataPtrs(got.Metadata), msg)
		}
	}
}
