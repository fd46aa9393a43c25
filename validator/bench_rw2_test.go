package validator

import (
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
)

// benchRequestRW2 is benchRequest's request in remote write 2.0.
func benchRequestRW2(tb testing.TB, n, dups int) []byte {
	r := &Request{}
	require.NoError(tb, Decompress(benchRequest(tb, n, dups), 0, r))
	var wr prompb.WriteRequest
	require.NoError(tb, wr.Unmarshal(r.Buf))
	st := writev2.NewSymbolTable()
	req := writev2.Request{}
	for _, ts := range wr.Timeseries {
		var refs []uint32
		for _, l := range ts.Labels {
			refs = append(refs, st.Symbolize(l.Name), st.Symbolize(l.Value))
		}
		s := writev2.TimeSeries{LabelsRefs: refs}
		for _, smp := range ts.Samples {
			s.Samples = append(s.Samples, writev2.Sample{Value: smp.Value, Timestamp: smp.Timestamp})
		}
		req.Timeseries = append(req.Timeseries, s)
	}
	req.Symbols = st.Symbols()
	b, err := req.Marshal()
	require.NoError(tb, err)
	return b
}

// BenchmarkConvertRW2 measures the conversion an upstream that speaks
// only 1.0 costs, decoding included.
func BenchmarkConvertRW2(b *testing.B) {
	raw := benchRequestRW2(b, 2000, 0)
	var out []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		var err error
		if out, err = RW2ToRW1(raw, out[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPatchKeepFirstRW2 is BenchmarkPatchKeepFirst in 2.0.
func BenchmarkPatchKeepFirstRW2(b *testing.B) {
	raw := benchRequestRW2(b, 2000, 200)
	r := &Request{Buf: raw}
	require.NoError(b, DecodeRW2(r))
	var res Result
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	var p Patch
	require.True(b, p.Plan(r, &res, StaticPolicy(ActionKeepFirst)))
	// Warm up: the first Encode grows the patch's buffers.
	p.Encode(r)
	b.ReportAllocs()
	for b.Loop() {
		p.Encode(r)
	}
}

// inspectRW2 returns the inspection of BenchmarkInspect's request in remote
// write 2.0 (snappy decode, parse, identity and duplicate detection) as a
// function to run again and again, and the body it inspects.
func inspectRW2(tb testing.TB) (func(), []byte) {
	body := snappy.Encode(nil, benchRequestRW2(tb, benchSeries, benchDupsDefault))
	inspector := NewInspector(NewIdentity(nil))
	var (
		req Request
		res Result
	)
	run := func() {
		if err := Decompress(body, 0, &req); err != nil {
			tb.Fatal(err)
		}
		if err := DecodeRW2(&req); err != nil {
			tb.Fatal(err)
		}
		inspector.Inspect(&req, &res)
	}
	run()
	require.Len(tb, req.Series, benchSeries)
	require.Len(tb, res.Duplicates, benchDupsDefault)
	return run, body
}

func TestInspectRW2DoesNotAllocate(t *testing.T) {
	run, _ := inspectRW2(t)
	require.Zero(t, testing.AllocsPerRun(20, run))
}

// BenchmarkInspectRW2 is BenchmarkInspect in remote write 2.0.
func BenchmarkInspectRW2(b *testing.B) {
	run, body := inspectRW2(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		run()
	}
}

// BenchmarkInspectRW2Baseline is the baseline of BenchmarkInspectRW2:
// snappy decode and gogo's writev2.Request.Unmarshal.
func BenchmarkInspectRW2Baseline(b *testing.B) {
	benchBaseline(b, snappy.Encode(nil, benchRequestRW2(b, benchSeries, benchDupsDefault)), func(raw []byte) error {
		var req writev2.Request
		return req.Unmarshal(raw)
	})
}
