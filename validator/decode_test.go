package validator

import (
	"math"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

func TestDecodeRW1MatchesPrompb(t *testing.T) {
	in := []prompb.TimeSeries{
		withSamples(series("__name__", "up", "job", "a", "empty", ""), 1000, 1, 2000, math.NaN()),
		withHistogram(withSamples(series("__name__", "h", "job", "b"), 3000, 2), 4000, testHistogram(3)),
		series("__name__", "nosamples"),
	}
	r := decodeBody(t, marshal(t, in...))
	require.Equal(t, RW1, r.Version)
	requireSameView(t, r, in)
	require.Equal(t, "up", string(r.MetricName(0)))
}

func TestDecodeErrors(t *testing.T) {
	valid := func() []byte {
		wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{withSamples(series("__name__", "up"), 1, 1)}}
		b, _ := wr.Marshal()
		return b
	}()
	for name, tc := range map[string]struct {
		body []byte
		id   ErrorID
	}{
		"not snappy":              {body: []byte("definitely not snappy"), id: ErrIDBadSnappy},
		"truncated protobuf":      {body: snappy.Encode(nil, valid[:len(valid)-3]), id: ErrIDBadProtobuf},
		"wrong wire type":         {body: snappy.Encode(nil, []byte{0x08, 0x01}), id: ErrIDBadProtobuf},
		"garbage protobuf":        {body: snappy.Encode(nil, []byte{0xff, 0xff, 0xff, 0xff}), id: ErrIDBadProtobuf},
		"header claims too large": {body: []byte{0x80, 0x80, 0x80, 0x80, 0x0f, 0x00}, id: ErrIDRequestTooLarge},
	} {
		t.Run(name, func(t *testing.T) {
			r := &Request{}
			err := Decompress(tc.body, 1<<20, r)
			if err == nil {
				err = DecodeRW1(r)
			}
			require.Error(t, err)
			require.Equal(t, tc.id, IDOf(err))
			require.Contains(t, err.Error(), "(err-pushguard-"+string(tc.id)+")")
		})
	}
}

// requireSameView requires r's series view to hold exactly the series of
// want: labels in order, samples bit for bit, histograms.
func requireSameView(t *testing.T, r *Request, want []prompb.TimeSeries) {
	t.Helper()
	require.Len(t, r.Series, len(want))
	for i, ts := range want {
		ls := r.SeriesLabels(i)
		require.Len(t, ls, len(ts.Labels), "series %d", i)
		for k, l := range ts.Labels {
			require.Equal(t, l.Name, r.String(ls[k].Name))
			require.Equal(t, l.Value, r.String(ls[k].Value))
		}
		ss := r.SeriesSamples(i)
		require.Len(t, ss, len(ts.Samples), "series %d", i)
		for k, s := range ts.Samples {
			require.Equal(t, s.Timestamp, ss[k].TimestampMs)
			require.Equal(t, math.Float64bits(s.Value), math.Float64bits(ss[k].Value))
		}
		hs := r.SeriesHistograms(i)
		require.Len(t, hs, len(ts.Histograms), "series %d", i)
		for k, h := range ts.Histograms {
			require.Equal(t, h.Timestamp, hs[k].TimestampMs)
			ph, err := DecodeHistogram(r, hs[k])
			require.NoError(t, err)
			require.Equal(t, h.GetCountInt(), ph.GetCountInt())
		}
	}
}
