package validator

import (
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// series builds a prompb series from alternating label names and values.
func series(lbls ...string) prompb.TimeSeries {
	ts := prompb.TimeSeries{}
	for i := 0; i+1 < len(lbls); i += 2 {
		ts.Labels = append(ts.Labels, prompb.Label{Name: lbls[i], Value: lbls[i+1]})
	}
	return ts
}

func withSamples(ts prompb.TimeSeries, tv ...float64) prompb.TimeSeries {
	for i := 0; i+1 < len(tv); i += 2 {
		ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: int64(tv[i]), Value: tv[i+1]})
	}
	return ts
}

func withHistogram(ts prompb.TimeSeries, t int64, h *histogram.Histogram) prompb.TimeSeries {
	ts.Histograms = append(ts.Histograms, prompb.FromIntHistogram(t, h))
	return ts
}

func testHistogram(count uint64) *histogram.Histogram {
	return &histogram.Histogram{
		Schema: 0, Count: count, Sum: float64(count) * 1.5, ZeroThreshold: 0.001,
		PositiveSpans: []histogram.Span{{Offset: 0, Length: 1}}, PositiveBuckets: []int64{int64(count)},
	}
}

func marshal(t testing.TB, ts ...prompb.TimeSeries) []byte {
	t.Helper()
	wr := prompb.WriteRequest{Timeseries: ts}
	b, err := wr.Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, b)
}

// decodeBody decodes a compressed body into a fresh Request.
func decodeBody(t testing.TB, body []byte) *Request {
	t.Helper()
	r := &Request{}
	require.NoError(t, Decompress(body, 0, r))
	require.NoError(t, DecodeRW1(r))
	return r
}

func unmarshal(t testing.TB, body []byte) prompb.WriteRequest {
	t.Helper()
	raw, err := snappy.Decode(nil, body)
	require.NoError(t, err)
	var wr prompb.WriteRequest
	require.NoError(t, wr.Unmarshal(raw))
	return wr
}

func marshalRaw(t testing.TB, ts ...prompb.TimeSeries) []byte {
	t.Helper()
	wr := prompb.WriteRequest{Timeseries: ts}
	b, err := wr.Marshal()
	require.NoError(t, err)
	return b
}
