package validator

import (
	"github.com/klauspost/compress/s2"
	"google.golang.org/protobuf/encoding/protowire"
)

// Outcome is what was done with one duplicate sample.
type Outcome struct {
	Action  Action
	Dropped bool
}

// Patch applies actions to a request. Untouched series are copied as their
// original bytes; only series that lose samples are re-encoded.
type Patch struct {
	// Outcomes[k] is what was done with Result.Duplicates[k].
	Outcomes []Outcome
	// Dropped is the number of samples and histograms removed.
	Dropped int

	dropSample []bool
	dropHist   []bool
	touched    []bool
	proto      []byte
	compressed []byte
}

// Reset empties the patch, keeping its buffers.
func (p *Patch) Reset() {
	p.Outcomes = p.Outcomes[:0]
	p.Dropped = 0
}

// Plan decides, per duplicate, what policy says to do with it. It reports
// whether the request must change.
func (p *Patch) Plan(r *Request, res *Result, policy Policy) bool {
	p.Reset()
	p.dropSample = resizeBool(p.dropSample, len(r.Samples))
	p.dropHist = resizeBool(p.dropHist, len(r.Histograms))
	p.touched = resizeBool(p.touched, len(r.Series))
	for k := range res.Duplicates {
		d := &res.Duplicates[k]
		a := policy.ActionFor(r, d)
		o := Outcome{Action: a}
		if a == ActionKeepFirst {
			o.Dropped = p.drop(d.Sample)
		}
		p.Outcomes = append(p.Outcomes, o)
	}
	return p.Dropped > 0
}

func (p *Patch) droppedSample(k int32) bool { return int(k) < len(p.dropSample) && p.dropSample[k] }

func (p *Patch) droppedHistogram(k int32) bool { return int(k) < len(p.dropHist) && p.dropHist[k] }

func (p *Patch) drop(ref SampleRef) bool {
	flags := p.dropSample
	if ref.Histogram {
		flags = p.dropHist
	}
	if flags[ref.Index] {
		return false
	}
	flags[ref.Index] = true
	p.touched[ref.Series] = true
	p.Dropped++
	return true
}

// Encode returns the patched request as snappy-compressed protobuf. The
// returned slice is owned by p and valid until its next use. Plan must have
// been called for r first.
func (p *Patch) Encode(r *Request) []byte {
	if len(p.touched) != len(r.Series) {
		panic("validator: Patch.Encode called without Plan for this request")
	}
	p.proto = p.encodeRW1(r, p.proto[:0])
	// s2's snappy-compatible fast mode: the same block format as
	// snappy.Encode, which uses the slower "better" compression level.
	p.compressed = s2.EncodeSnappy(p.compressed[:cap(p.compressed)], p.proto)
	return p.compressed
}

// Protobuf returns the uncompressed protobuf of the last Encode.
func (p *Patch) Protobuf() []byte { return p.proto }

func (p *Patch) encodeRW1(r *Request, out []byte) []byte {
	b := r.Buf
	series := 0
	for off := 0; off < len(b); {
		start := off
		num, typ, n := protowire.ConsumeTag(b[off:])
		off += n
		n = protowire.ConsumeFieldValue(num, typ, b[off:])
		off += n
		if num != rw1WriteRequestTimeseries || typ != protowire.BytesType {
			out = append(out, b[start:off]...)
			continue
		}
		i := series
		series++
		if !p.touched[i] {
			out = append(out, b[start:off]...)
			continue
		}
		out = p.appendPatchedSeries(r, i, out)
	}
	return out
}

// appendPatchedSeries appends series i as a timeseries field without its
// dropped samples; a series left with no sample at all is left out.
func (p *Patch) appendPatchedSeries(r *Request, i int, out []byte) []byte {
	s := &r.Series[i]
	kept := 0
	for k := s.SamplesStart; k < s.SamplesEnd; k++ {
		if !p.dropSample[k] {
			kept++
		}
	}
	for k := s.HistogramsStart; k < s.HistogramsEnd; k++ {
		if !p.dropHist[k] {
			kept++
		}
	}
	if kept == 0 {
		return out
	}
	// Reserve room for the length prefix, write the body, then fix it up.
	out = protowire.AppendTag(out, rw1WriteRequestTimeseries, protowire.BytesType)
	lenAt := len(out)
	out = append(out, make([]byte, maxVarintLen)...)
	bodyAt := len(out)

	b := r.Buf[:s.Raw.End]
	sample, hist := s.SamplesStart, s.HistogramsStart
	for off := int(s.Raw.Start); off < int(s.Raw.End); {
		start := off
		num, typ, n := protowire.ConsumeTag(b[off:])
		off += n
		n = protowire.ConsumeFieldValue(num, typ, b[off:])
		off += n
		switch {
		case num == rw1SeriesSamples && typ == protowire.BytesType:
			k := sample
			sample++
			if p.dropSample[k] {
				continue
			}
		case num == rw1SeriesHistograms && typ == protowire.BytesType:
			k := hist
			hist++
			if p.dropHist[k] {
				continue
			}
		}
		out = append(out, b[start:off]...)
	}
	return fixLength(out, lenAt, bodyAt)
}

const maxVarintLen = 5 // series bodies are below 4 GiB

// fixLength writes the varint length of out[bodyAt:] at lenAt, closing the
// gap left by the reserved bytes.
func fixLength(out []byte, lenAt, bodyAt int) []byte {
	bodyLen := len(out) - bodyAt
	var tmp [maxVarintLen]byte
	enc := protowire.AppendVarint(tmp[:0], uint64(bodyLen))
	copy(out[lenAt:], enc)
	gap := maxVarintLen - len(enc)
	if gap > 0 {
		copy(out[lenAt+len(enc):], out[bodyAt:])
		out = out[:len(out)-gap]
	}
	return out
}

func resizeBool(s []bool, n int) []bool {
	if cap(s) < n {
		return make([]bool, n)
	}
	s = s[:n]
	clear(s)
	return s
}
