package validator

import (
	"math"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

func TestIdentity(t *testing.T) {
	for name, tc := range map[string]struct {
		a, b   prompb.TimeSeries
		ignore []string
		same   bool
	}{
		"identical":              {a: series("__name__", "m", "job", "x"), b: series("__name__", "m", "job", "x"), same: true},
		"order does not matter":  {a: series("__name__", "m", "job", "x", "pod", "p"), b: series("pod", "p", "job", "x", "__name__", "m"), same: true},
		"empty value is absent":  {a: series("__name__", "m", "job", "x", "pod", ""), b: series("__name__", "m", "job", "x"), same: true},
		"different value":        {a: series("__name__", "m", "job", "x"), b: series("__name__", "m", "job", "y")},
		"extra label":            {a: series("__name__", "m", "job", "x"), b: series("__name__", "m", "job", "x", "pod", "p")},
		"boundaries matter":      {a: series("a", "bc"), b: series("ab", "c")},
		"ignored label":          {a: series("__name__", "m", "__replica__", "r1"), b: series("__name__", "m", "__replica__", "r2"), ignore: []string{"__replica__"}, same: true},
		"ignored label unsorted": {a: series("__replica__", "r1", "__name__", "m"), b: series("__name__", "m", "__replica__", "r2"), ignore: []string{"__replica__"}, same: true},
	} {
		t.Run(name, func(t *testing.T) {
			r := decodeBody(t, marshal(t, tc.a, tc.b))
			id := NewIdentity(tc.ignore)
			var sc Scratch
			ha, hb := id.Hash(r, 0, &sc), id.Hash(r, 1, &sc)
			require.Equal(t, tc.same, ha == hb, "hash")
			require.Equal(t, tc.same, id.Equal(r, 0, 1, &sc), "equal")
		})
	}
}

// TestIdentityHashWith: the identity of a series with a label set is that
// of the series arriving with it.
func TestIdentityHashWith(t *testing.T) {
	for name, tc := range map[string]struct {
		from, with   prompb.TimeSeries
		label, value string
		ignore       []string
	}{
		"added between":    {from: series("__name__", "m", "job", "x"), with: series("__name__", "m", "duplicate_index", "1", "job", "x"), label: "duplicate_index", value: "1"},
		"added last":       {from: series("__name__", "m", "a", "x"), with: series("__name__", "m", "a", "x", "z", "1"), label: "z", value: "1"},
		"added first":      {from: series("b", "x", "c", "y"), with: series("a", "1", "b", "x", "c", "y"), label: "a", value: "1"},
		"replaced":         {from: series("__name__", "m", "duplicate_index", "1"), with: series("__name__", "m", "duplicate_index", "2"), label: "duplicate_index", value: "2"},
		"unsorted":         {from: series("job", "x", "__name__", "m", "pod", ""), with: series("__name__", "m", "job", "x", "k", "2"), label: "k", value: "2"},
		"ignored left out": {from: series("__name__", "m", "__replica__", "a"), with: series("__name__", "m", "d", "1"), label: "d", value: "1", ignore: []string{"__replica__"}},
		"ignored not set":  {from: series("__name__", "m"), with: series("__name__", "m"), label: "__replica__", value: "1", ignore: []string{"__replica__"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := decodeBody(t, marshal(t, tc.from, tc.with))
			id := NewIdentity(tc.ignore)
			var sc Scratch
			want := id.Hash(r, 1, &sc)
			require.Equal(t, want, id.HashWith(r, 0, []byte(tc.label), []byte(tc.value), &sc))
			if !id.ignored([]byte(tc.label)) {
				require.NotEqual(t, want, id.HashWith(r, 0, []byte(tc.label), []byte(tc.value+"0"), &sc), "another value, another identity")
			}
		})
	}
}

type dupWant struct {
	kind        Kind
	conflicting bool
	ts          int64
	series      int32 // series entry of the repeating sample
	first       int32 // series entry of the group's first sample
}

func TestInspect(t *testing.T) {
	ksm := func(v float64) prompb.TimeSeries {
		return withSamples(series("__name__", "kube_job_status_failed", "job", "kube-state-metrics", "namespace", "renovate", "job_name", "r-1", "reason", "BackoffLimitExceeded"), 1000, v)
	}
	other := withSamples(series("__name__", "up", "job", "x"), 1000, 1, 2000, 1)
	staleA := math.Float64frombits(value.StaleNaN)
	for name, tc := range map[string]struct {
		in   []prompb.TimeSeries
		want []dupWant
	}{
		"no duplicates": {in: []prompb.TimeSeries{other, ksm(1)}},
		"adjacent across series, conflicting": {
			in:   []prompb.TimeSeries{ksm(1), ksm(0)},
			want: []dupWant{{AcrossSeries, true, 1000, 1, 0}},
		},
		"scattered across series, identical": {
			in:   []prompb.TimeSeries{ksm(1), other, other, ksm(1)},
			want: []dupWant{{AcrossSeries, false, 1000, 2, 1}, {AcrossSeries, false, 2000, 2, 1}, {AcrossSeries, false, 1000, 3, 0}},
		},
		"within series": {
			in:   []prompb.TimeSeries{withSamples(series("__name__", "m"), 1000, 1, 1000, 2, 2000, 3)},
			want: []dupWant{{WithinSeries, true, 1000, 0, 0}},
		},
		"within series unsorted": {
			in:   []prompb.TimeSeries{withSamples(series("__name__", "m"), 2000, 1, 1000, 2, 2000, 1)},
			want: []dupWant{{WithinSeries, false, 2000, 0, 0}},
		},
		"values 1 1 2 count identical 1 conflicting 1": {
			in:   []prompb.TimeSeries{ksm(1), ksm(1), ksm(2)},
			want: []dupWant{{AcrossSeries, false, 1000, 1, 0}, {AcrossSeries, true, 1000, 2, 0}},
		},
		"NaN with the same bits is identical": {
			in:   []prompb.TimeSeries{ksm(math.NaN()), ksm(math.NaN())},
			want: []dupWant{{AcrossSeries, false, 1000, 1, 0}},
		},
		"stale marker differs from a plain NaN": {
			in:   []prompb.TimeSeries{ksm(staleA), ksm(math.NaN())},
			want: []dupWant{{AcrossSeries, true, 1000, 1, 0}},
		},
		"different NaN payloads conflict": {
			in:   []prompb.TimeSeries{ksm(math.Float64frombits(0x7ff8000000000001)), ksm(math.Float64frombits(0x7ff8000000000002))},
			want: []dupWant{{AcrossSeries, true, 1000, 1, 0}},
		},
		"labels in another order and an empty label are the same series": {
			in: []prompb.TimeSeries{
				withSamples(series("__name__", "m", "a", "1", "b", "2"), 5, 1),
				withSamples(series("b", "2", "x", "", "a", "1", "__name__", "m"), 5, 2),
			},
			want: []dupWant{{AcrossSeries, true, 5, 1, 0}},
		},
		"within and across in one group": {
			in: []prompb.TimeSeries{
				withSamples(series("__name__", "m"), 10, 1),
				withSamples(series("__name__", "m"), 10, 1, 10, 3),
			},
			want: []dupWant{{AcrossSeries, false, 10, 1, 0}, {WithinSeries, true, 10, 1, 0}},
		},
		"histograms identical": {
			in: []prompb.TimeSeries{
				withHistogram(series("__name__", "h"), 10, testHistogram(5)),
				withHistogram(series("__name__", "h"), 10, testHistogram(5)),
			},
			want: []dupWant{{AcrossSeries, false, 10, 1, 0}},
		},
		"histograms conflicting": {
			in: []prompb.TimeSeries{
				withHistogram(series("__name__", "h"), 10, testHistogram(5)),
				withHistogram(series("__name__", "h"), 10, testHistogram(6)),
			},
			want: []dupWant{{AcrossSeries, true, 10, 1, 0}},
		},
		"histogram within series": {
			in:   []prompb.TimeSeries{withHistogram(withHistogram(series("__name__", "h"), 10, testHistogram(5)), 10, testHistogram(7))},
			want: []dupWant{{WithinSeries, true, 10, 0, 0}},
		},
		"float and histogram at one timestamp conflict": {
			in:   []prompb.TimeSeries{withSamples(series("__name__", "h"), 10, 1), withHistogram(series("__name__", "h"), 10, testHistogram(1))},
			want: []dupWant{{AcrossSeries, true, 10, 1, 0}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := decodeBody(t, marshal(t, tc.in...))
			var res Result
			NewInspector(NewIdentity(nil)).Inspect(r, &res)
			got := make([]dupWant, 0, len(res.Duplicates))
			for _, d := range res.Duplicates {
				got = append(got, dupWant{d.Kind, d.Conflicting, d.TimestampMs, d.Sample.Series, d.First.Series})
			}
			require.ElementsMatch(t, tc.want, got)
		})
	}
}

func TestInspectReusesResult(t *testing.T) {
	in := NewInspector(NewIdentity(nil))
	var res Result
	r1 := decodeBody(t, marshal(t, withSamples(series("__name__", "m"), 1, 1), withSamples(series("__name__", "m"), 1, 2)))
	in.Inspect(r1, &res)
	require.Len(t, res.Duplicates, 1)
	r2 := decodeBody(t, marshal(t, withSamples(series("__name__", "m"), 1, 1)))
	in.Inspect(r2, &res)
	require.Empty(t, res.Duplicates)
}

// appendLabelField encodes one label field, value first when swapped.
func appendLabelField(b []byte, name, value string, swapped bool) []byte {
	var msg []byte
	if swapped {
		msg = protowire.AppendTag(msg, labelValue, protowire.BytesType)
		msg = protowire.AppendString(msg, value)
	}
	msg = protowire.AppendTag(msg, labelName, protowire.BytesType)
	msg = protowire.AppendString(msg, name)
	if !swapped {
		msg = protowire.AppendTag(msg, labelValue, protowire.BytesType)
		msg = protowire.AppendString(msg, value)
	}
	b = protowire.AppendTag(b, rw1SeriesLabels, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func TestIdentityIgnoresEncodingDetails(t *testing.T) {
	long := strings.Repeat("v", 300) // a two-byte length prefix
	encode := func(swapped bool, extra []byte) []byte {
		var ts []byte
		ts = appendLabelField(ts, "__name__", "m", swapped)
		ts = append(ts, extra...) // a field between the labels
		ts = appendLabelField(ts, "job", long, false)
		var wr []byte
		wr = protowire.AppendTag(wr, rw1WriteRequestTimeseries, protowire.BytesType)
		return protowire.AppendBytes(wr, ts)
	}
	sample := protowire.AppendTag(nil, rw1SeriesSamples, protowire.BytesType)
	sample = protowire.AppendBytes(sample, protowire.AppendVarint(protowire.AppendTag(nil, sampleTimestamp, protowire.VarintType), 5))
	body := append(encode(false, nil), encode(true, sample)...)
	body = append(body, marshalRaw(t, withSamples(series("__name__", "m", "job", long), 5, 1))...)

	r := &Request{Buf: body}
	require.NoError(t, DecodeRW1(r))
	require.Len(t, r.Series, 3)
	require.False(t, r.Series[1].Canonical, "swapped fields and a field between labels are not canonical")
	id := NewIdentity(nil)
	var sc Scratch
	h := id.Hash(r, 0, &sc)
	for i := 1; i < 3; i++ {
		require.Equal(t, h, id.Hash(r, i, &sc), "series %d", i)
		require.True(t, id.Equal(r, 0, i, &sc), "series %d", i)
	}
	var res Result
	NewInspector(id).Inspect(r, &res)
	require.Len(t, res.Duplicates, 1, "series 1 and 2 both have a sample at 5")
	require.Equal(t, int32(2), res.Duplicates[0].Sample.Series)
	require.Equal(t, int32(1), res.Duplicates[0].First.Series)
}

// TestInspectHashCollisions makes distinct identities share hashes (only
// two hash bits are left): grouping must then rest on the exact comparison
// of identities, and find what full hashes find.
func TestInspectHashCollisions(t *testing.T) {
	r := decodeBody(t, benchRequest(t, 300, 30))
	var want, got Result
	NewInspector(NewIdentity(nil)).Inspect(r, &want)
	colliding := NewIdentity(nil)
	colliding.collide = ^uint64(3)
	NewInspector(colliding).Inspect(r, &got)

	require.Len(t, want.Duplicates, 30)
	require.Equal(t, want.Duplicates, got.Duplicates)
	require.Equal(t, want.Group, got.Group)
	chained := 0
	for _, c := range got.chain {
		if c >= 0 {
			chained++
		}
	}
	require.Greater(t, chained, 200, "distinct identities sharing a hash are chained")
}
