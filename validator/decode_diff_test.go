package validator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// randomWriteRequest builds a request with the shapes senders produce and a
// few they rarely do: empty values, long values (two-byte lengths), unsorted
// labels, zero and negative timestamps, NaN, histograms, exemplars.
func randomWriteRequest(rng *rand.Rand) prompb.WriteRequest {
	var wr prompb.WriteRequest
	for range rng.IntN(20) {
		var ts prompb.TimeSeries
		for l := range rng.IntN(8) {
			v := fmt.Sprintf("v%d", rng.IntN(5))
			switch rng.IntN(10) {
			case 0:
				v = ""
			case 1:
				v = fmt.Sprintf("%0200d", rng.IntN(3))
			}
			ts.Labels = append(ts.Labels, prompb.Label{Name: fmt.Sprintf("l%d", l), Value: v})
		}
		if rng.IntN(4) == 0 {
			rng.Shuffle(len(ts.Labels), func(i, j int) { ts.Labels[i], ts.Labels[j] = ts.Labels[j], ts.Labels[i] })
		}
		for range rng.IntN(4) {
			v := rng.NormFloat64()
			if rng.IntN(8) == 0 {
				v = math.NaN()
			}
			ts.Samples = append(ts.Samples, prompb.Sample{Value: v, Timestamp: rng.Int64N(1<<42) - 1<<20})
		}
		for range rng.IntN(2) {
			h := &histogram.Histogram{Count: uint64(rng.IntN(9) + 1), Sum: rng.Float64(), PositiveSpans: []histogram.Span{{Length: 1}}}
			h.PositiveBuckets = []int64{int64(h.Count)}
			ts.Histograms = append(ts.Histograms, prompb.FromIntHistogram(rng.Int64N(1<<40), h))
		}
		if rng.IntN(5) == 0 {
			ts.Exemplars = append(ts.Exemplars, prompb.Exemplar{Labels: []prompb.Label{{Name: "trace_id", Value: "x"}}, Value: 1, Timestamp: 5})
		}
		wr.Timeseries = append(wr.Timeseries, ts)
	}
	return wr
}

// TestDecodeRW1Differential decodes random requests with pushguard's
// decoder and with gogo's prompb, and requires the same series view.
func TestDecodeRW1Differential(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 9))
	for n := range 500 {
		wr := randomWriteRequest(rng)
		raw, err := wr.Marshal()
		require.NoError(t, err)
		r := &Request{}
		require.NoError(t, Decompress(snappy.Encode(nil, raw), 0, r), "request %d", n)
		require.NoError(t, DecodeRW1(r), "request %d", n)

		var want prompb.WriteRequest
		require.NoError(t, want.Unmarshal(raw))
		requireSameView(t, r, want.Timeseries)
	}
}
