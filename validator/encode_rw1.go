package validator

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// encodeRW1 encodes the remote-write 1.0 request p's plan describes: every
// field of the original copied in order, untouched series byte for byte
// (see rewrite).
func (p *Patch) encodeRW1(r *Request, out []byte) []byte {
	return p.rewrite(r, rw1WriteRequestTimeseries, out, func(i int, out []byte) []byte {
		return p.appendPatchedSeries(r, i, out)
	}, -1, nil)
}

// rewrite keeps every top-level field of r's message in order: untouched
// series and other fields as copies of r's bytes (copyOriginal), touched
// series i, the seriesField fields counted from 0, as emit appends them to
// out, the patched request's own bytes. When insert is not nil, what it
// appends goes at offset at of r's message, a field boundary outside every
// touched series.
func (p *Patch) rewrite(r *Request, seriesField protowire.Number, out []byte, emit func(i int, out []byte) []byte, at int, insert func(out []byte) []byte) []byte {
	// copyUpTo copies r's bytes from prev to end, inserting on the way.
	copyUpTo := func(out []byte, prev, end int) []byte {
		if insert != nil && prev <= at && at <= end {
			p.copyOriginal(out, prev, at)
			out, prev, insert = insert(out), at, nil
		}
		p.copyOriginal(out, prev, end)
		return out
	}
	if p.fieldsKnown(r, seriesField) {
		// Everything between two touched series is copied as it is: no
		// need to walk the fields of the untouched ones.
		prev := 0
		for i, touched := range p.touched {
			if touched {
				start, _ := seriesFieldStart(r, i, seriesField)
				out = copyUpTo(out, prev, start)
				out = emit(i, out)
				prev = int(r.Series[i].Raw.End)
			}
		}
		return copyUpTo(out, prev, len(r.Buf))
	}
	b := r.Buf
	series := 0
	for off := 0; off < len(b); {
		out = copyUpTo(out, off, off)
		start := off
		num, typ, n := protowire.ConsumeTag(b[off:])
		off += n
		n = protowire.ConsumeFieldValue(num, typ, b[off:])
		off += n
		if num != seriesField || typ != protowire.BytesType {
			p.copyOriginal(out, start, off)
			continue
		}
		i := series
		series++
		if !p.touched[i] {
			p.copyOriginal(out, start, off)
			continue
		}
		out = emit(i, out)
	}
	return copyUpTo(out, len(b), len(b))
}

// seriesFieldStart returns where series i's field, numbered seriesField,
// starts when its tag and length are encoded in as few bytes as they
// need, and whether they are: a sender may write them longer.
func seriesFieldStart(r *Request, i int, seriesField protowire.Number) (int, bool) {
	var hdr [2 * binary.MaxVarintLen64]byte
	raw := r.Series[i].Raw
	want := protowire.AppendVarint(protowire.AppendTag(hdr[:0], seriesField, protowire.BytesType), uint64(raw.Len()))
	start := int(raw.Start) - len(want)
	return start, start >= 0 && bytes.Equal(r.Buf[start:raw.Start], want)
}

// fieldsKnown reports whether seriesFieldStart finds every touched
// series' field; otherwise rewrite walks the request field by field.
func (p *Patch) fieldsKnown(r *Request, seriesField protowire.Number) bool {
	prev := 0
	for i, touched := range p.touched {
		if touched {
			start, ok := seriesFieldStart(r, i, seriesField)
			if !ok || start < prev {
				return false
			}
			prev = int(r.Series[i].Raw.End)
		}
	}
	return true
}

// appendPatchedSeries appends series i as it leaves the plan: without its
// dropped samples, with new values, and split into one timeseries per
// disambiguation rank its samples carry (rank 0 keeps the original labels).
// Exemplars and other fields go with the first part. A series left with no
// sample at all is left out, unless it has exemplars (keptAlone).
func (p *Patch) appendPatchedSeries(r *Request, i int, out []byte) []byte {
	first := true
	for rank, ok := p.nextRank(r, i, -1); ok; rank, ok = p.nextRank(r, i, rank) {
		out = p.appendSeriesPart(r, i, rank, first, out)
		first = false
	}
	if first && keptAlone(r, i) {
		out = p.appendSeriesPart(r, i, 0, true, out)
	}
	return out
}

// keptAlone reports whether series i goes upstream even when it keeps no
// sample: its exemplars repeat nothing, and a receiver takes a series
// with exemplars only (Prometheus sends its exemplars so).
func keptAlone(r *Request, i int) bool { return r.Series[i].Exemplars > 0 }

// nextRank returns the smallest rank above after among the kept samples of
// series i.
func (p *Patch) nextRank(r *Request, i int, after int32) (int32, bool) {
	s := &r.Series[i]
	best, found := int32(math.MaxInt32), false
	for k := s.SamplesStart; k < s.SamplesEnd; k++ {
		if sp := &p.samples[k]; !sp.drop && sp.rank > after && sp.rank <= best {
			best, found = sp.rank, true
		}
	}
	for k := s.HistogramsStart; k < s.HistogramsEnd; k++ {
		if hp := &p.hists[k]; !hp.drop && hp.rank > after && hp.rank <= best {
			best, found = hp.rank, true
		}
	}
	return best, found
}

func (p *Patch) appendSeriesPart(r *Request, i int, rank int32, extras bool, out []byte) []byte {
	s := &r.Series[i]
	// Reserve room for the length prefix, write the body, then fix it up.
	out = protowire.AppendTag(out, rw1WriteRequestTimeseries, protowire.BytesType)
	lenAt := len(out)
	out = append(out, make([]byte, maxVarintLen)...)
	bodyAt := len(out)

	name := p.labelName()
	var rankValue []byte
	labelled := rank == 0 // nothing to add
	if !labelled {
		p.scratch = strconv.AppendInt(p.scratch[:0], int64(rank), 10)
		rankValue = p.scratch
	}

	// A label of that name already there (empty, or left out of identity)
	// gets the value in place; otherwise the label goes before the first
	// label with a larger name, which keeps sorted labels sorted.
	replace := false
	if !labelled {
		for _, l := range r.SeriesLabels(i) {
			if string(r.Bytes(l.Name)) == name {
				replace = true
				break
			}
		}
	}

	b := r.Buf[:s.Raw.End]
	sample, hist, lbl := s.SamplesStart, s.HistogramsStart, s.LabelsStart
	for off := int(s.Raw.Start); off < int(s.Raw.End); {
		start := off
		num, typ, n := protowire.ConsumeTag(b[off:])
		off += n
		n = protowire.ConsumeFieldValue(num, typ, b[off:])
		off += n
		if typ != protowire.BytesType {
			if extras {
				out = append(out, b[start:off]...)
			}
			continue
		}
		switch num {
		case rw1SeriesLabels:
			l := r.Labels[lbl]
			lbl++
			if !labelled {
				c := strings.Compare(yoloString(r.Bytes(l.Name)), name)
				if c == 0 || (c > 0 && !replace) {
					out = appendLabel(out, name, rankValue)
					labelled = true
					if c == 0 {
						continue
					}
				}
			}
			out = append(out, b[start:off]...)
		case rw1SeriesSamples:
			out = p.appendPlannedSample(out, b[start:off], sample, rank)
			sample++
		case rw1SeriesHistograms:
			out = p.appendPlannedHistogram(out, b[start:off], hist, rank, rw1SeriesHistograms)
			hist++
		default:
			if extras {
				out = append(out, b[start:off]...)
			}
		}
	}
	if !labelled {
		out = appendLabel(out, name, rankValue)
	}
	return fixLength(out, lenAt, bodyAt)
}

// appendPlannedSample appends field, the samples field of sample k, as the
// plan has it in the part of rank rank: left out, with a new value, or as
// it was. Both remote-write versions encode samples alike.
func (p *Patch) appendPlannedSample(out, field []byte, k, rank int32) []byte {
	sp := &p.samples[k]
	switch {
	case sp.drop || sp.rank != rank:
		return out
	case sp.set:
		return appendSampleWithValue(out, field, sp.value)
	}
	return append(out, field...)
}

// appendPlannedHistogram is appendPlannedSample for field, histogram k's
// field, numbered num in the version's TimeSeries.
func (p *Patch) appendPlannedHistogram(out, field []byte, k, rank int32, num protowire.Number) []byte {
	hp := &p.hists[k]
	switch {
	case hp.drop || hp.rank != rank:
		return out
	case hp.raw != nil:
		out = protowire.AppendTag(out, num, protowire.BytesType)
		return protowire.AppendBytes(out, hp.raw)
	}
	return append(out, field...)
}

// appendLabel appends a labels field.
func appendLabel(out []byte, name string, value []byte) []byte {
	out = protowire.AppendTag(out, rw1SeriesLabels, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(protowire.SizeTag(labelName)+protowire.SizeBytes(len(name))+protowire.SizeTag(labelValue)+protowire.SizeBytes(len(value))))
	out = protowire.AppendTag(out, labelName, protowire.BytesType)
	out = protowire.AppendString(out, name)
	out = protowire.AppendTag(out, labelValue, protowire.BytesType)
	return protowire.AppendBytes(out, value)
}

// appendSampleWithValue appends the samples field field (tag included) with
// its value replaced by v; its other fields are kept as they were.
func appendSampleWithValue(out, field []byte, v float64) []byte {
	_, _, n := protowire.ConsumeTag(field)
	msg, _ := protowire.ConsumeBytes(field[n:])
	out = protowire.AppendTag(out, rw1SeriesSamples, protowire.BytesType)
	lenAt := len(out)
	out = append(out, make([]byte, maxVarintLen)...)
	bodyAt := len(out)
	// Proto3 leaves a zero value out; -0 keeps its sign bit on the wire.
	if bits := math.Float64bits(v); bits != 0 {
		out = protowire.AppendTag(out, sampleValue, protowire.Fixed64Type)
		out = protowire.AppendFixed64(out, bits)
	}
	for off := 0; off < len(msg); {
		start := off
		num, typ, n := protowire.ConsumeTag(msg[off:])
		off += n
		off += protowire.ConsumeFieldValue(num, typ, msg[off:])
		if num != sampleValue {
			out = append(out, msg[start:off]...)
		}
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
