package validator

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// encode encodes the request p's plan describes in r's own protocol:
// what it does not copy from r it appends to out, the copies it records
// (see Patch.fresh).
func (p *Patch) encode(r *Request, out []byte) []byte {
	if r.Version == RW2 {
		return p.encodeRW2(r, out)
	}
	return p.encodeRW1(r, out)
}

// encodeRW2 encodes the remote-write 2.0 request p's plan describes: every
// field of the original copied in order, the symbols as they are, untouched
// series byte for byte, touched ones re-emitted as the plan says. The
// disambiguation label's name and values, when the label action needs
// them, are extra symbols written right after the last of the sender's:
// repeated fields concatenate, so they get the next indexes, and they come
// before the series that refer to them, as decoders that resolve
// references while reading the series (Mimir's) need.
func (p *Patch) encodeRW2(r *Request, out []byte) []byte {
	base := uint64(len(r.Symbols)) // index of the first added symbol
	var insert func(out []byte) []byte
	at := 0
	if maxRank := p.maxRank(); maxRank > 0 {
		if len(r.Symbols) > 0 {
			at = int(r.Symbols[len(r.Symbols)-1].End)
		}
		insert = func(out []byte) []byte {
			out = protowire.AppendTag(out, rw2RequestSymbols, protowire.BytesType)
			out = protowire.AppendString(out, p.labelName())
			for rank := int32(1); rank <= maxRank; rank++ {
				p.scratch = strconv.AppendInt(p.scratch[:0], int64(rank), 10)
				out = protowire.AppendTag(out, rw2RequestSymbols, protowire.BytesType)
				out = protowire.AppendBytes(out, p.scratch)
			}
			return out
		}
	}
	return p.rewrite(r, rw2RequestTimeseries, out, func(i int, out []byte) []byte {
		first := true
		for rank, ok := p.nextRank(r, i, -1); ok; rank, ok = p.nextRank(r, i, rank) {
			out = p.appendSeriesPartRW2(r, i, rank, first, base, out)
			first = false
		}
		if first && keptAlone(r, i) {
			out = p.appendSeriesPartRW2(r, i, 0, true, base, out)
		}
		return out
	}, at, insert)
}

// maxRank returns the largest disambiguation rank of a kept sample.
func (p *Patch) maxRank() int32 {
	var m int32
	for k := range p.samples {
		if sp := &p.samples[k]; !sp.drop && sp.rank > m {
			m = sp.rank
		}
	}
	for k := range p.hists {
		if hp := &p.hists[k]; !hp.drop && hp.rank > m {
			m = hp.rank
		}
	}
	return m
}

// appendSeriesPartRW2 appends the part of series i whose kept samples
// carry rank: without dropped samples, with new values, and for rank > 0
// with the disambiguation label (symbol base, value symbol base+rank).
// Exemplars and other fields go with the first part, metadata with every
// part: each is a series of the same metric family.
func (p *Patch) appendSeriesPartRW2(r *Request, i int, rank int32, first bool, base uint64, out []byte) []byte {
	s := &r.Series[i]
	out = protowire.AppendTag(out, rw2RequestTimeseries, protowire.BytesType)
	lenAt := len(out)
	out = append(out, make([]byte, maxVarintLen)...)
	bodyAt := len(out)

	b := r.Buf[:s.Raw.End]
	sample, hist := s.SamplesStart, s.HistogramsStart
	refsDone := false
	for off := int(s.Raw.Start); off < int(s.Raw.End); {
		start := off
		num, typ, n := protowire.ConsumeTag(b[off:])
		off += n
		off += protowire.ConsumeFieldValue(num, typ, b[off:])
		switch {
		case num == rw2SeriesLabelsRefs:
			if rank == 0 {
				out = append(out, b[start:off]...)
			} else if !refsDone {
				out = p.appendLabelledRefs(r, i, base, base+uint64(rank), out)
			}
			refsDone = true
		case num == rw2SeriesSamples && typ == protowire.BytesType:
			out = p.appendPlannedSample(out, b[start:off], sample, rank)
			sample++
		case num == rw2SeriesHistograms && typ == protowire.BytesType:
			out = p.appendPlannedHistogram(out, b[start:off], hist, rank, rw2SeriesHistograms)
			hist++
		case num == rw2SeriesMetadata:
			out = append(out, b[start:off]...)
		default:
			if first {
				out = append(out, b[start:off]...)
			}
		}
	}
	if rank > 0 && !refsDone {
		out = p.appendLabelledRefs(r, i, base, base+uint64(rank), out)
	}
	return fixLength(out, lenAt, bodyAt)
}

// appendLabelledRefs appends the label references of series i with the
// disambiguation label (references name, value) set: in place of a label
// of that name, otherwise before the first label with a larger name, which
// keeps sorted labels sorted.
func (p *Patch) appendLabelledRefs(r *Request, i int, name, value uint64, out []byte) []byte {
	s := &r.Series[i]
	refs := p.refs[:0]
	b := r.Buf[:s.Raw.End]
	for off := int(s.Raw.Start); off < int(s.Raw.End); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		off += n
		if num != rw2SeriesLabelsRefs {
			off += protowire.ConsumeFieldValue(num, typ, b[off:])
			continue
		}
		n, _ = forEachRef(typ, b[off:], func(ref uint64) error {
			refs = append(refs, ref)
			return nil
		})
		off += n
	}
	label := p.labelName()
	at, replace := len(refs), false
	for k := 0; k+1 < len(refs); k += 2 {
		c := strings.Compare(yoloString(r.Bytes(r.Symbols[refs[k]])), label)
		if c == 0 {
			at, replace = k, true
			break
		}
		if c > 0 && at == len(refs) {
			at = k
		}
	}
	if replace {
		refs[at+1] = value
	} else {
		refs = append(refs, 0, 0)
		copy(refs[at+2:], refs[at:])
		refs[at], refs[at+1] = name, value
	}
	p.refs = refs
	size := 0
	for _, ref := range refs {
		size += protowire.SizeVarint(ref)
	}
	out = protowire.AppendTag(out, rw2SeriesLabelsRefs, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(size))
	for _, ref := range refs {
		out = protowire.AppendVarint(out, ref)
	}
	return out
}

// Counts are what a write request carries, counted the way the remote
// write 2.0 X-Prometheus-Remote-Write-*-Written headers count them.
type Counts struct {
	Samples, Histograms, Exemplars int
}

// Sub returns c minus o.
func (c Counts) Sub(o Counts) Counts {
	return Counts{Samples: c.Samples - o.Samples, Histograms: c.Histograms - o.Histograms, Exemplars: c.Exemplars - o.Exemplars}
}

// Add returns c plus o.
func (c Counts) Add(o Counts) Counts {
	return Counts{Samples: c.Samples + o.Samples, Histograms: c.Histograms + o.Histograms, Exemplars: c.Exemplars + o.Exemplars}
}

// keptOf counts what series i keeps under the plan; its exemplars always
// go (keptAlone).
func (p *Patch) keptOf(r *Request, i int) Counts {
	s := &r.Series[i]
	var c Counts
	for k := s.SamplesStart; k < s.SamplesEnd; k++ {
		if !p.droppedSample(k) {
			c.Samples++
		}
	}
	for k := s.HistogramsStart; k < s.HistogramsEnd; k++ {
		if !p.droppedHistogram(k) {
			c.Histograms++
		}
	}
	c.Exemplars = int(s.Exemplars)
	return c
}

// Received returns what the sender's request carries.
func (c *Checked) Received() Counts {
	return Counts{Samples: len(c.Request.Samples), Histograms: len(c.Request.Histograms), Exemplars: c.Request.Exemplars}
}

// Forwarded returns what the request forwarded upstream carries: what was
// received minus what the actions removed.
func (c *Checked) Forwarded() Counts {
	if !c.Changed {
		return c.Received()
	}
	var n Counts
	for i := range c.Request.Series {
		if c.Patch.touched[i] {
			n = n.Add(c.Patch.keptOf(c.Request, i))
			continue
		}
		s := &c.Request.Series[i]
		n = n.Add(Counts{Samples: int(s.SamplesEnd - s.SamplesStart), Histograms: int(s.HistogramsEnd - s.HistogramsStart), Exemplars: int(s.Exemplars)})
	}
	return n
}
