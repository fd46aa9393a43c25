package validator

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/snappy"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// checkDecoded asserts the invariants every successfully decoded request
// keeps: spans in bounds, index ranges consistent, and inspection and
// keep-first patching run without panicking.
func checkDecoded(t *testing.T, r *Request) {
	inBounds := func(s Span) {
		if s.Start > s.End || int(s.End) > len(r.Buf) {
			t.Fatalf("span %v out of bounds (%d bytes)", s, len(r.Buf))
		}
	}
	for i, s := range r.Series {
		inBounds(s.Raw)
		if r.Version == RW2 {
			if s.LabelsRaw.Start > s.LabelsRaw.End || int(s.LabelsRaw.End) > len(r.Ident) {
				t.Fatalf("series %d: identity span %v out of bounds (%d bytes)", i, s.LabelsRaw, len(r.Ident))
			}
		} else {
			inBounds(s.LabelsRaw)
		}
		if s.LabelsStart > s.LabelsEnd || s.SamplesStart > s.SamplesEnd || s.HistogramsStart > s.HistogramsEnd {
			t.Fatalf("series %d has inverted ranges", i)
		}
		for _, l := range r.SeriesLabels(i) {
			inBounds(l.Name)
			inBounds(l.Value)
		}
		for _, h := range r.SeriesHistograms(i) {
			inBounds(h.Raw)
		}
	}
	// Labels taken as canonical must be exactly the identity the slow path
	// builds from them.
	var (
		sc  Scratch
		buf []byte
		id  = NewIdentity(nil)
	)
	for i := range r.Series {
		s := &r.Series[i]
		if !s.Canonical {
			continue
		}
		s.Canonical = false
		built := id.canonical(r, i, &sc, &buf)
		s.Canonical = true
		if raw := r.RawLabels(i); !bytes.Equal(raw, built) {
			t.Fatalf("series %d: raw labels %x taken as canonical, but the identity is %x", i, raw, built)
		}
	}
	var res Result
	NewInspector(NewIdentity([]string{"__replica__"})).Inspect(r, &res)
	var p Patch
	if p.Plan(r, &res, StaticPolicy(ActionKeepFirst)) {
		// As a push: the patched request spliced into the sender's block.
		out := &Request{}
		if err := Decompress(p.EncodeFrom(r, snappy.Encode(nil, r.Buf)), 0, out); err != nil {
			t.Fatalf("patched body does not decompress: %v", err)
		}
		if !bytes.Equal(out.Buf, p.Protobuf()) {
			t.Fatalf("patched body decompresses to %x, want %x", out.Buf, p.Protobuf())
		}
		decode := DecodeRW1
		if r.Version == RW2 {
			decode = DecodeRW2
		}
		if err := decode(out); err != nil {
			t.Fatalf("patched request does not decode: %v", err)
		}
		if got, want := len(out.Samples)+len(out.Histograms), len(r.Samples)+len(r.Histograms)-p.Dropped; got != want {
			t.Fatalf("patched request has %d samples, want %d", got, want)
		}
	}
	if r.Version == RW2 {
		// Conversion to 1.0 keeps every series and sample.
		out := &Request{Buf: ConvertRW2(r, nil)}
		if err := DecodeRW1(out); err != nil {
			t.Fatalf("converted request does not decode: %v", err)
		}
		if len(out.Series) != len(r.Series) || len(out.Samples) != len(r.Samples) || len(out.Histograms) != len(r.Histograms) || out.Exemplars != r.Exemplars {
			t.Fatalf("converted request has %d series, %d samples, %d histograms, %d exemplars; want %d, %d, %d, %d",
				len(out.Series), len(out.Samples), len(out.Histograms), out.Exemplars, len(r.Series), len(r.Samples), len(r.Histograms), r.Exemplars)
		}
	}
}

func FuzzDecodeRW1(f *testing.F) {
	f.Add(marshalRaw(f, withSamples(series("__name__", "m", "job", "a"), 1, 1, 1, 2), withSamples(series("__name__", "m", "job", "a"), 1, 3)))
	f.Add(marshalRaw(f, withHistogram(series("__name__", "h"), 5, testHistogram(3)), withHistogram(series("__name__", "h"), 5, testHistogram(4))))
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &Request{Buf: b}
		if DecodeRW1(r) != nil {
			return
		}
		checkDecoded(t, r)
	})
}

func FuzzDecodeRW2(f *testing.F) {
	f.Add(marshalRW2(f,
		rw2Series{lbls: []string{"__name__", "m", "job", "a"}, samples: []writev2.Sample{{Value: 1, Timestamp: 1}, {Value: 2, Timestamp: 1}}},
		rw2Series{lbls: []string{"__name__", "m", "job", "a"}, samples: []writev2.Sample{{Value: 3, Timestamp: 1}}},
	))
	f.Add(marshalRW2(f, rw2Series{lbls: []string{"__name__", "h"}, hists: []writev2.Histogram{writev2.FromIntHistogram(0, 5, testHistogram(2))}}))
	f.Add([]byte{0x22, 0x00, 0x2a, 0x04, 0x0a, 0x02, 0x00, 0x05})
	rich, err := richRW2().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rich) // exemplars, metadata, float histograms

	f.Fuzz(func(t *testing.T, b []byte) {
		r := &Request{Buf: b}
		if DecodeRW2(r) != nil {
			return
		}
		checkDecoded(t, r)
	})
}

func FuzzDecompress(f *testing.F) {
	f.Add(marshal(f, withSamples(series("__name__", "m"), 1, 1)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &Request{}
		if err := Decompress(b, 1<<20, r); err != nil {
			return
		}
		if len(r.Buf) > 1<<20 {
			t.Fatalf("decompressed %d bytes past the limit", len(r.Buf))
		}
	})
}
