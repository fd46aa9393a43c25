package validator

import (
	"bytes"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// richRW2 is a remote-write 2.0 request with every kind of data: float
// samples (NaN and -0 included), integer and float native histograms,
// exemplars, metadata of several types, a series without metadata and an
// across-series duplicate.
func richRW2() *writev2.Request {
	st := writev2.NewSymbolTable()
	ref := func(l ...string) []uint32 { return st.SymbolizeLabels(labels.FromStrings(l...), nil) }
	fh := testHistogram(7).ToFloat(nil)
	fh.CounterResetHint = histogram.GaugeType
	req := &writev2.Request{Timeseries: []writev2.TimeSeries{
		{
			LabelsRefs: ref("__name__", "http_requests_total", "code", "200", "job", "api"),
			Samples:    []writev2.Sample{{Value: 1, Timestamp: 1000}, {Value: math.Float64frombits(0x7ff8000000000bad), Timestamp: 2000}, {Value: 0, Timestamp: 3000}},
			Exemplars:  []writev2.Exemplar{{LabelsRefs: ref("trace_id", "abc"), Value: 1, Timestamp: 1000}},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_COUNTER, HelpRef: st.Symbolize("Requests."), UnitRef: st.Symbolize("requests")},
		},
		{
			LabelsRefs: ref("__name__", "latency_seconds", "job", "api"),
			Histograms: []writev2.Histogram{writev2.FromIntHistogram(0, 1000, testHistogram(4)), writev2.FromIntHistogram(500, 2000, testHistogram(5))},
			Exemplars:  []writev2.Exemplar{{LabelsRefs: ref("trace_id", "def", "span_id", "1"), Value: 0.25, Timestamp: 2000}},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_HISTOGRAM, HelpRef: st.Symbolize("Latency.")},
		},
		{
			LabelsRefs: ref("__name__", "queue_depth_bucket", "le", "+Inf"),
			Samples:    []writev2.Sample{{Value: 3, Timestamp: 1000}},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_HISTOGRAM, HelpRef: st.Symbolize("Queue depth.")},
		},
		{
			LabelsRefs: ref("__name__", "temperature", "room", "b"),
			Histograms: []writev2.Histogram{writev2.FromFloatHistogram(0, 1000, fh)},
		},
		{
			LabelsRefs: ref("__name__", "http_requests_total", "code", "200", "job", "api"),
			Samples:    []writev2.Sample{{Value: 5, Timestamp: 1000}},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_COUNTER, HelpRef: st.Symbolize("Requests."), UnitRef: st.Symbolize("requests")},
		},
	}}
	req.Symbols = st.Symbols()
	return req
}

// expectedRW1 is what converting req to remote write 1.0 must give.
func expectedRW1(t *testing.T, req *writev2.Request) *prompb.WriteRequest {
	t.Helper()
	out := &prompb.WriteRequest{}
	seen := map[string]bool{}
	b := labels.NewScratchBuilder(0)
	for _, ts := range req.Timeseries {
		ls, err := ts.ToLabels(&b, req.Symbols)
		require.NoError(t, err)
		var pts prompb.TimeSeries
		ls.Range(func(l labels.Label) { pts.Labels = append(pts.Labels, prompb.Label{Name: l.Name, Value: l.Value}) })
		for _, s := range ts.Samples {
			pts.Samples = append(pts.Samples, prompb.Sample{Value: s.Value, Timestamp: s.Timestamp})
		}
		for _, h := range ts.Histograms {
			if h.IsFloatHistogram() {
				pts.Histograms = append(pts.Histograms, prompb.FromFloatHistogram(h.Timestamp, h.ToFloatHistogram()))
			} else {
				pts.Histograms = append(pts.Histograms, prompb.FromIntHistogram(h.Timestamp, h.ToIntHistogram()))
			}
		}
		for _, e := range ts.Exemplars {
			ex, err := e.ToExemplar(&b, req.Symbols)
			require.NoError(t, err)
			pe := prompb.Exemplar{Value: ex.Value, Timestamp: ex.Ts}
			ex.Labels.Range(func(l labels.Label) { pe.Labels = append(pe.Labels, prompb.Label{Name: l.Name, Value: l.Value}) })
			pts.Exemplars = append(pts.Exemplars, pe)
		}
		out.Timeseries = append(out.Timeseries, pts)
		m := ts.Metadata
		if m.Type == 0 && m.HelpRef == 0 && m.UnitRef == 0 {
			continue
		}
		family := ls.Get("__name__")
		if m.Type == writev2.Metadata_METRIC_TYPE_HISTOGRAM {
			family = trimAny(family, "_bucket", "_sum", "_count")
		}
		if seen[family] {
			continue
		}
		seen[family] = true
		out.Metadata = append(out.Metadata, prompb.MetricMetadata{
			Type:             prompb.MetricMetadata_MetricType(m.Type),
			MetricFamilyName: family,
			Help:             req.Symbols[m.HelpRef],
			Unit:             req.Symbols[m.UnitRef],
		})
	}
	return out
}

func trimAny(s string, suffixes ...string) string {
	for _, suf := range suffixes {
		if len(s) > len(suf) && s[len(s)-len(suf):] == suf {
			return s[:len(s)-len(suf)]
		}
	}
	return s
}

// requireSameRW1 compares two RW1 requests, float values by bits.
func requireSameRW1(t *testing.T, want, got *prompb.WriteRequest) {
	t.Helper()
	require.Len(t, got.Timeseries, len(want.Timeseries))
	for i := range want.Timeseries {
		w, g := want.Timeseries[i], got.Timeseries[i]
		require.Equal(t, w.Labels, g.Labels, "series %d", i)
		require.Len(t, g.Samples, len(w.Samples), "series %d", i)
		for k := range w.Samples {
			require.Equal(t, math.Float64bits(w.Samples[k].Value), math.Float64bits(g.Samples[k].Value), "series %d sample %d", i, k)
			require.Equal(t, w.Samples[k].Timestamp, g.Samples[k].Timestamp)
		}
		require.Len(t, g.Histograms, len(w.Histograms), "series %d", i)
		for k := range w.Histograms {
			wb, err := w.Histograms[k].Marshal()
			require.NoError(t, err)
			gb, err := g.Histograms[k].Marshal()
			require.NoError(t, err)
			require.Equal(t, wb, gb, "series %d histogram %d", i, k)
		}
		require.Equal(t, w.Exemplars, g.Exemplars, "series %d", i)
	}
	require.Equal(t, want.Metadata, got.Metadata)
}

func TestConvertRW2ToRW1(t *testing.T) {
	req := richRW2()
	raw, err := req.Marshal()
	require.NoError(t, err)

	rw1, err := RW2ToRW1(raw, nil)
	require.NoError(t, err)
	var got prompb.WriteRequest
	require.NoError(t, got.Unmarshal(rw1))
	requireSameRW1(t, expectedRW1(t, req), &got)

	// Our own RW1 decoder reads the same series view from the result.
	r1, r2 := &Request{Buf: rw1}, &Request{Buf: raw}
	require.NoError(t, DecodeRW1(r1))
	require.NoError(t, DecodeRW2(r2))
	require.Len(t, r1.Samples, len(r2.Samples))
	for k := range r2.Samples {
		require.Equal(t, math.Float64bits(r2.Samples[k].Value), math.Float64bits(r1.Samples[k].Value))
		require.Equal(t, r2.Samples[k].TimestampMs, r1.Samples[k].TimestampMs)
	}
	require.Equal(t, r2.Exemplars, r1.Exemplars)
	require.Len(t, r1.Histograms, len(r2.Histograms))
	id := NewIdentity(nil)
	var sc Scratch
	for i := range r2.Series {
		require.Equal(t, id.Hash(r2, i, &sc), id.Hash(r1, i, &sc))
	}
}

// TestConvertRW2RefusesWhatMimirRefuses: a request an upstream gets
// converted must not pass where Mimir's HTTP push refuses it.
func TestConvertRW2RefusesWhatMimirRefuses(t *testing.T) {
	valid, err := richRW2().Marshal()
	require.NoError(t, err)
	badFirst := richRW2()
	badFirst.Symbols[0] = "x"
	badFirstRaw, err := badFirst.Marshal()
	require.NoError(t, err)
	rw1Field := func(num protowire.Number) []byte {
		return protowire.AppendBytes(protowire.AppendTag(bytes.Clone(valid), num, protowire.BytesType), nil)
	}
	for name, b := range map[string][]byte{
		"symbols not starting with the empty string": badFirstRaw,
		"remote write 1.0 timeseries":                rw1Field(rw1WriteRequestTimeseries),
		"remote write 1.0 metadata":                  rw1Field(rw1WriteRequestMetadata),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := RW2ToRW1(b, nil)
			require.Error(t, err)
			require.Equal(t, ErrIDBadProtobuf, IDOf(err))
		})
	}
}

// TestRW2RoundTrip re-encodes every series of a 2.0 request, dropping
// nothing: the result must carry the same data as the original.
func TestRW2RoundTrip(t *testing.T) {
	req := richRW2()
	raw, err := req.Marshal()
	require.NoError(t, err)
	r := &Request{Buf: raw}
	require.NoError(t, DecodeRW2(r))

	var p Patch
	var res Result
	require.False(t, p.Plan(r, &res, StaticPolicy(ActionReport)))
	for i := range p.touched {
		p.touched[i] = true // force every series through the re-encoder
	}
	p.build(r)
	out := p.Protobuf()
	var got writev2.Request
	require.NoError(t, got.Unmarshal(out))
	require.Equal(t, req.Symbols, got.Symbols)
	require.Len(t, got.Timeseries, len(req.Timeseries))
	for i := range req.Timeseries {
		w, g := req.Timeseries[i], got.Timeseries[i]
		require.Equal(t, w.LabelsRefs, g.LabelsRefs)
		require.Equal(t, w.Histograms, g.Histograms)
		require.Equal(t, w.Exemplars, g.Exemplars)
		require.Equal(t, w.Metadata, g.Metadata)
		require.Len(t, g.Samples, len(w.Samples))
		for k := range w.Samples {
			require.Equal(t, math.Float64bits(w.Samples[k].Value), math.Float64bits(g.Samples[k].Value))
			require.Equal(t, w.Samples[k].Timestamp, g.Samples[k].Timestamp)
		}
	}
}

// TestRW2ExemplarsOfASeriesLeftWithoutSamples: the series that loses its
// only sample keeps its exemplar, and the written counts say so.
func TestRW2ExemplarsOfASeriesLeftWithoutSamples(t *testing.T) {
	req := richRW2()
	last := &req.Timeseries[len(req.Timeseries)-1]
	last.Exemplars = append(last.Exemplars, req.Timeseries[0].Exemplars[0])
	raw, err := req.Marshal()
	require.NoError(t, err)
	r := &Request{Buf: raw}
	require.NoError(t, DecodeRW2(r))
	c := &Checked{Request: r}
	NewInspector(NewIdentity(nil)).Inspect(r, &c.Result)
	c.Changed = c.Patch.Plan(r, &c.Result, StaticPolicy(ActionKeepFirst))
	require.True(t, c.Changed)
	require.Equal(t, Counts{Samples: 4, Histograms: 3, Exemplars: 3}, c.Forwarded())

	var got writev2.Request
	require.NoError(t, got.Unmarshal(c.Protobuf()))
	require.Len(t, got.Timeseries, 5)
	require.Empty(t, got.Timeseries[4].Samples)
	require.Equal(t, last.LabelsRefs, got.Timeseries[4].LabelsRefs)
	require.Equal(t, last.Exemplars, got.Timeseries[4].Exemplars)
}

// TestRW2KeepFirst patches a 2.0 request: the duplicate sample goes, the
// rest reaches the upstream in 2.0 and, converted, in 1.0.
func TestRW2KeepFirst(t *testing.T) {
	req := richRW2()
	raw, err := req.Marshal()
	require.NoError(t, err)
	r := &Request{Buf: raw}
	require.NoError(t, DecodeRW2(r))
	var res Result
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	require.Len(t, res.Duplicates, 1)

	c := &Checked{Request: r}
	c.Changed = c.Patch.Plan(r, &c.Result, StaticPolicy(ActionKeepFirst))
	require.False(t, c.Changed, "no duplicates in an empty result")
	c.Result = res
	c.Changed = c.Patch.Plan(r, &c.Result, StaticPolicy(ActionKeepFirst))
	require.True(t, c.Changed)
	require.Equal(t, Counts{Samples: 5, Histograms: 3, Exemplars: 2}, c.Received())
	require.Equal(t, Counts{Samples: 4, Histograms: 3, Exemplars: 2}, c.Forwarded())

	var got writev2.Request
	require.NoError(t, got.Unmarshal(c.Protobuf()))
	want := richRW2()
	want.Timeseries = want.Timeseries[:4] // the last series only held the duplicate
	require.Equal(t, want.Symbols, got.Symbols)
	require.Len(t, got.Timeseries, 4)
	for i := range want.Timeseries {
		require.Equal(t, want.Timeseries[i].LabelsRefs, got.Timeseries[i].LabelsRefs)
	}

	rw1, err := RW2ToRW1(c.Protobuf(), nil)
	require.NoError(t, err)
	var got1 prompb.WriteRequest
	require.NoError(t, got1.Unmarshal(rw1))
	requireSameRW1(t, expectedRW1(t, want), &got1)
}

func TestDecodeRW2BadExemplarAndMetadataReferences(t *testing.T) {
	for name, tc := range map[string]struct {
		ts   writev2.TimeSeries
		want string
	}{
		"exemplar label": {writev2.TimeSeries{LabelsRefs: []uint32{1, 2}, Exemplars: []writev2.Exemplar{{LabelsRefs: []uint32{1, 9}}}}, "symbol reference 9 out of range"},
		"exemplar odd":   {writev2.TimeSeries{LabelsRefs: []uint32{1, 2}, Exemplars: []writev2.Exemplar{{LabelsRefs: []uint32{1}}}}, "odd number of label references"},
		"help":           {writev2.TimeSeries{LabelsRefs: []uint32{1, 2}, Metadata: writev2.Metadata{HelpRef: 3}}, "symbol reference 3 out of range"},
		"unit":           {writev2.TimeSeries{LabelsRefs: []uint32{1, 2}, Metadata: writev2.Metadata{UnitRef: 99}}, "symbol reference 99 out of range"},
	} {
		t.Run(name, func(t *testing.T) {
			req := writev2.Request{Symbols: []string{"", "__name__", "up"}, Timeseries: []writev2.TimeSeries{
				{LabelsRefs: []uint32{1, 2}, Samples: []writev2.Sample{{Value: 1, Timestamp: 1}}}, tc.ts,
			}}
			b, err := req.Marshal()
			require.NoError(t, err)
			err = DecodeRW2(&Request{Buf: b})
			require.Error(t, err)
			require.Equal(t, ErrIDBadProtobuf, IDOf(err))
			require.Contains(t, err.Error(), "timeseries 1")
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
