package validator

import (
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// actionsRW2 has float and histogram duplicate groups of three, across
// and within series, and a healthy series; its symbols are not sorted, and
// one series already carries an empty duplicate_index label.
func actionsRW2(t *testing.T) []byte {
	t.Helper()
	st := writev2.NewSymbolTable()
	st.Symbolize("zzz") // symbols in no particular order
	ref := func(l ...string) []uint32 { return st.SymbolizeLabels(labels.FromStrings(l...), nil) }
	hist := func(n uint64) writev2.Histogram { return writev2.FromIntHistogram(0, 1000, testHistogram(n)) }
	req := writev2.Request{Timeseries: []writev2.TimeSeries{
		{LabelsRefs: ref("__name__", "m", "job", "a"), Samples: []writev2.Sample{{Value: 1, Timestamp: 1000}, {Value: 9, Timestamp: 2000}},
			Exemplars: []writev2.Exemplar{{LabelsRefs: ref("trace_id", "x"), Value: 1, Timestamp: 1000}},
			Metadata:  writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE, HelpRef: st.Symbolize("M.")}},
		{LabelsRefs: ref("__name__", "up", "job", "a"), Samples: []writev2.Sample{{Value: 1, Timestamp: 1000}}},
		{LabelsRefs: ref("__name__", "m", "job", "a", "duplicate_index", ""), Samples: []writev2.Sample{{Value: 3, Timestamp: 1000}}},
		{LabelsRefs: ref("__name__", "m", "job", "a"), Samples: []writev2.Sample{{Value: 2, Timestamp: 1000}, {Value: 2, Timestamp: 1000}}},
		{LabelsRefs: ref("__name__", "h", "zone", "b"), Histograms: []writev2.Histogram{hist(4)}},
		{LabelsRefs: ref("__name__", "h", "zone", "b"), Histograms: []writev2.Histogram{hist(6), hist(5)}},
	}}
	req.Symbols = st.Symbols()
	raw, err := req.Marshal()
	require.NoError(t, err)
	return raw
}

// TestRW2ActionsMatchRW1 applies every action to a 2.0 request and to the
// same request in 1.0: the patched 2.0 request, converted, must carry what
// the patched 1.0 request carries.
func TestRW2ActionsMatchRW1(t *testing.T) {
	raw2 := actionsRW2(t)
	for _, action := range Actions {
		t.Run(string(action), func(t *testing.T) {
			r2 := &Request{Buf: raw2}
			require.NoError(t, DecodeRW2(r2))
			r1 := &Request{Buf: ConvertRW2(r2, nil)}
			require.NoError(t, DecodeRW1(r1))

			patch := func(r *Request) (*Checked, []byte) {
				c := &Checked{Request: r}
				NewInspector(NewIdentity(nil)).Inspect(r, &c.Result)
				c.Changed = c.Patch.Plan(r, &c.Result, StaticPolicy(action))
				out := append([]byte(nil), c.Protobuf()...)
				if c.Changed {
					// As a push patches it: spliced into the sender's block.
					spliced, err := snappy.Decode(nil, c.Patch.EncodeFrom(r, snappy.Encode(nil, r.Buf)))
					require.NoError(t, err)
					require.Equal(t, out, spliced, "version %d", r.Version)
				}
				return c, out
			}
			c1, out1 := patch(r1)
			c2, out2 := patch(r2)
			require.Equal(t, c1.Changed, c2.Changed)
			require.Equal(t, c1.Patch.Rejected, c2.Patch.Rejected)
			require.Equal(t, c1.Patch.Outcomes, c2.Patch.Outcomes)
			require.Equal(t, c1.Forwarded(), c2.Forwarded())
			if action != ActionReport && action != ActionReject {
				require.True(t, c2.Changed)
			}

			conv, err := RW2ToRW1(out2, nil)
			require.NoError(t, err)
			var want, got prompb.WriteRequest
			require.NoError(t, want.Unmarshal(out1))
			require.NoError(t, got.Unmarshal(conv))
			want.Metadata, got.Metadata = nil, nil // 1.0 metadata is per family, not per series
			requireSameRW1(t, &want, &got)

			// What the 2.0 request forwards is what Forwarded counts.
			fwd := &Request{Buf: out2}
			require.NoError(t, DecodeRW2(fwd))
			require.Equal(t, c2.Forwarded(), Counts{Samples: len(fwd.Samples), Histograms: len(fwd.Histograms), Exemplars: fwd.Exemplars})
			requireSymbolsFirst(t, out2)
		})
	}
}

// requireSymbolsFirst checks that every symbol of a 2.0 request comes
// before its first series, as Mimir's decoder, which resolves a series'
// references as it reads it, needs.
func requireSymbolsFirst(t *testing.T, b []byte) {
	t.Helper()
	seenSeries := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		require.Positive(t, n)
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		require.Positive(t, m)
		b = b[n+m:]
		switch num {
		case rw2RequestTimeseries:
			seenSeries = true
		case rw2RequestSymbols:
			require.False(t, seenSeries, "a symbol follows a series")
		}
	}
}
