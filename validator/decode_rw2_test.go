package validator

import (
	"bytes"
	"math"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// rw2Series is one RW2 test series: labels as name/value pairs.
type rw2Series struct {
	lbls    []string
	samples []writev2.Sample
	hists   []writev2.Histogram
}

func marshalRW2(t testing.TB, in ...rw2Series) []byte {
	t.Helper()
	st := writev2.NewSymbolTable()
	req := writev2.Request{}
	for _, s := range in {
		ts := writev2.TimeSeries{
			LabelsRefs: st.SymbolizeLabels(labels.FromStrings(s.lbls...), nil),
			Samples:    s.samples,
			Histograms: s.hists,
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE, HelpRef: st.Symbolize("help text")},
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	req.Symbols = st.Symbols()
	b, err := req.Marshal()
	require.NoError(t, err)
	return b
}

func TestDecodeRW2(t *testing.T) {
	h := writev2.FromIntHistogram(0, 2000, testHistogram(4))
	raw := marshalRW2(t,
		rw2Series{lbls: []string{"__name__", "up", "job", "a"}, samples: []writev2.Sample{{Value: 1, Timestamp: 1000}, {Value: math.NaN(), Timestamp: 2000}}},
		rw2Series{lbls: []string{"__name__", "h", "job", "b"}, hists: []writev2.Histogram{h}},
	)
	r := &Request{Buf: raw}
	require.NoError(t, DecodeRW2(r))
	require.Equal(t, RW2, r.Version)
	require.Len(t, r.Series, 2)
	require.Equal(t, map[string]string{"__name__": "up", "job": "a"}, r.LabelMap(0))
	require.Equal(t, map[string]string{"__name__": "h", "job": "b"}, r.LabelMap(1))
	require.Equal(t, []Sample{{Value: 1, TimestampMs: 1000}}, r.SeriesSamples(0)[:1])
	require.True(t, math.IsNaN(r.SeriesSamples(0)[1].Value))
	require.Len(t, r.SeriesHistograms(1), 1)
	require.Equal(t, int64(2000), r.SeriesHistograms(1)[0].TimestampMs)
	ph, err := DecodeHistogram(r, r.SeriesHistograms(1)[0])
	require.NoError(t, err)
	require.Equal(t, uint64(4), ph.GetCountInt())
	require.Equal(t, "up", string(r.MetricName(0)))
}

func TestDecodeRW2BadReferences(t *testing.T) {
	good := writev2.Request{
		Symbols:    []string{"", "__name__", "up"},
		Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{1, 2}, Samples: []writev2.Sample{{Value: 1, Timestamp: 1}}}},
	}
	for name, tc := range map[string]struct {
		refs []uint32
		want string
	}{
		"out of range": {refs: []uint32{1, 7}, want: "label reference 7 out of range"},
		"odd count":    {refs: []uint32{1, 2, 1}, want: "odd number of label references"},
	} {
		t.Run(name, func(t *testing.T) {
			req := good
			req.Timeseries = append([]writev2.TimeSeries{good.Timeseries[0]}, writev2.TimeSeries{LabelsRefs: tc.refs})
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

func TestRW2IdentityMatchesRW1(t *testing.T) {
	lbls := []string{"__name__", "kube_job_status_failed", "job", "ksm", "namespace", "ns"}
	r1 := decodeBody(t, marshal(t, withSamples(series(lbls...), 1, 1)))
	r2 := &Request{Buf: marshalRW2(t,
		rw2Series{lbls: lbls, samples: []writev2.Sample{{Value: 1, Timestamp: 1}}},
		rw2Series{lbls: lbls, samples: []writev2.Sample{{Value: 2, Timestamp: 1}}},
	)}
	require.NoError(t, DecodeRW2(r2))
	id := NewIdentity(nil)
	var sc Scratch
	require.Equal(t, id.Hash(r1, 0, &sc), id.Hash(r2, 0, &sc), "one identity whatever the protocol")

	var res Result
	NewInspector(id).Inspect(r2, &res)
	require.Len(t, res.Duplicates, 1)
	require.Equal(t, AcrossSeries, res.Duplicates[0].Kind)
	require.True(t, res.Duplicates[0].Conflicting)
}

// TestDecodeRW2FieldOrder decodes the same request with its fields in other
// orders than senders write them (symbols, then series): series first,
// symbols split around the series, and an unknown field in between. The
// decoder reads the symbol table whole before any series.
func TestDecodeRW2FieldOrder(t *testing.T) {
	raw := marshalRW2(t,
		rw2Series{lbls: []string{"__name__", "up", "job", "a"}, samples: []writev2.Sample{{Value: 1, Timestamp: 1000}}},
		rw2Series{lbls: []string{"__name__", "down", "job", "b", "pod", "p"}, samples: []writev2.Sample{{Value: 2, Timestamp: 1000}}},
	)
	var symbols, series [][]byte
	for b := raw; len(b) > 0; {
		num, _, n := protowire.ConsumeField(b)
		require.Positive(t, n)
		if num == rw2RequestSymbols {
			symbols = append(symbols, b[:n])
		} else {
			series = append(series, b[:n])
		}
		b = b[n:]
	}
	require.Len(t, series, 2)
	require.Greater(t, len(symbols), 3)
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 15, protowire.VarintType), 7)
	want := []map[string]string{{"__name__": "up", "job": "a"}, {"__name__": "down", "job": "b", "pod": "p"}}
	for name, parts := range map[string][][]byte{
		"as written":            {raw},
		"series first":          append(append(slices.Clone(series), unknown), symbols...),
		"symbols around series": append(append(append([][]byte{symbols[0], series[0], unknown}, symbols[1:3]...), series[1]), symbols[3:]...),
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, want, decodedLabels(t, bytes.Join(parts, nil)))
		})
	}
}

func decodedLabels(t *testing.T, raw []byte) []map[string]string {
	r := &Request{Buf: raw}
	require.NoError(t, DecodeRW2(r))
	var out []map[string]string
	for i := range r.Series {
		out = append(out, r.LabelMap(i))
	}
	return out
}
