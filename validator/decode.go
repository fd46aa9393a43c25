package validator

import (
	"errors"
	"fmt"
	"math"

	"github.com/klauspost/compress/snappy"
	"github.com/zeebo/xxh3"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the remote-write 1.0 messages (Mimir's cortexpb shares
// the wire format and adds source=2 to WriteRequest).
const (
	rw1WriteRequestTimeseries = 1
	rw1WriteRequestSource     = 2

	rw1SeriesLabels     = 1
	rw1SeriesSamples    = 2
	rw1SeriesExemplars  = 3
	rw1SeriesHistograms = 4

	rw1WriteRequestMetadata = 3

	labelName  = 1
	labelValue = 2

	sampleValue     = 1
	sampleTimestamp = 2

	histogramTimestamp = 15
)

// Decompress snappy-decodes a block-format body into r.Buf. The decoded size
// announced in the snappy header is checked against maxBytes before any
// memory is allocated for it. An empty body decodes to an empty request.
func Decompress(body []byte, maxBytes int, r *Request) error {
	if len(body) == 0 {
		// An empty body is an empty request: the upstream judges it.
		r.Buf = r.Buf[:0]
		return nil
	}
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return NewError(ErrIDBadSnappy, CauseBadData, err, "body is not snappy block-compressed")
	}
	if maxBytes > 0 && n > maxBytes {
		return NewError(ErrIDRequestTooLarge, CauseTooLarge, nil,
			"decompressed body would be %d bytes, over the limit of %d bytes", n, maxBytes)
	}
	if cap(r.Buf) < n {
		r.Buf = make([]byte, n)
	}
	out, err := snappy.Decode(r.Buf[:cap(r.Buf)], body)
	if err != nil {
		return NewError(ErrIDBadSnappy, CauseBadData, err, "body is not snappy block-compressed")
	}
	r.Buf = out
	return nil
}

// DecodeRW1 parses r.Buf, a remote-write 1.0 WriteRequest, into r's series
// view. Nothing is copied: labels are spans of r.Buf.
func DecodeRW1(r *Request) error {
	r.Version = RW1
	r.resetView()
	if len(r.Buf) > math.MaxUint32 {
		return NewError(ErrIDRequestTooLarge, CauseTooLarge, nil, "request of %d bytes is too large to decode", len(r.Buf))
	}
	b := r.Buf
	off := 0
	for off < len(b) {
		num, typ, n := consumeTag(b[off:])
		if n < 0 {
			return badProtobuf("write request", protowire.ParseError(n))
		}
		off += n
		switch {
		case num == rw1WriteRequestTimeseries && typ == protowire.BytesType:
			v, n := consumeBytes(b[off:])
			if n < 0 {
				return badProtobuf("write request", protowire.ParseError(n))
			}
			if err := r.checkSeriesLimit(); err != nil {
				return err
			}
			start := off + n - len(v)
			if err := r.decodeRW1Series(start, start+len(v)); err != nil {
				return seriesError(len(r.Series), err)
			}
			off += n
		case num == rw1WriteRequestSource && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b[off:])
			if n < 0 {
				return badProtobuf("write request", protowire.ParseError(n))
			}
			r.Source = int32(v)
			off += n
		case num == rw1WriteRequestTimeseries || num == rw1WriteRequestSource:
			return badProtobuf("write request", fmt.Errorf("field %d has wire type %d", num, typ))
		default:
			n := protowire.ConsumeFieldValue(num, typ, b[off:])
			if n < 0 {
				return badProtobuf("write request", protowire.ParseError(n))
			}
			off += n
			r.HasMetadata = r.HasMetadata || (num == rw1WriteRequestMetadata && typ == protowire.BytesType)
		}
	}
	return nil
}

func badProtobuf(where string, err error) error {
	return NewError(ErrIDBadProtobuf, CauseBadData, err, "body is not a valid remote-write protobuf message (%s)", where)
}

// seriesError wraps an error decoding series i as bad protobuf, unless it
// already says what is wrong (a limit).
func seriesError(i int, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return badProtobuf(fmt.Sprintf("timeseries %d", i), err)
}

func (r *Request) decodeRW1Series(start, end int) error {
	s := Series{
		Raw:             Span{uint32(start), uint32(end)},
		LabelsStart:     int32(len(r.Labels)),
		SamplesStart:    int32(len(r.Samples)),
		HistogramsStart: int32(len(r.Histograms)),
	}
	b := r.Buf[:end]
	off := start
	// Track whether the labels are canonical: contiguous, sorted, non-empty
	// and encoded the one way gogo and Prometheus encode them. Then their
	// raw bytes are the series identity and hash without being rebuilt.
	st := labelRun{canonical: true, rawStart: -1, rawEnd: -1}
	for off < end {
		// Runs of canonically encoded labels, nearly all labels, take
		// the fast path; anything else goes field by field below.
		var err error
		if off, err = r.decodeCanonicalLabels(off, end, &st, s.LabelsStart); err != nil {
			return err
		}
		if off >= end {
			break
		}
		fieldStart := off
		num, typ, n := consumeTag(b[off:])
		if n < 0 {
			return protowire.ParseError(n)
		}
		off += n
		if typ != protowire.BytesType {
			if num == rw1SeriesLabels || num == rw1SeriesSamples || num == rw1SeriesHistograms {
				return fmt.Errorf("field %d has wire type %d", num, typ)
			}
			n := protowire.ConsumeFieldValue(num, typ, b[off:])
			if n < 0 {
				return protowire.ParseError(n)
			}
			off += n
			continue
		}
		v, n := consumeBytes(b[off:])
		if n < 0 {
			return protowire.ParseError(n)
		}
		vStart := off + n - len(v)
		vEnd := vStart + len(v)
		off += n
		switch num {
		case rw1SeriesLabels:
			l, canon := decodeCanonicalLabel(b, vStart, vEnd)
			if !canon {
				var err error
				if l, err = decodeLabel(b, vStart, vEnd); err != nil {
					return fmt.Errorf("label: %w", err)
				}
			}
			st.add(b[l.Name.Start:l.Name.End], fieldStart, off,
				canon && off-fieldStart == 1+protowire.SizeVarint(uint64(len(v)))+len(v))
			r.Labels = append(r.Labels, l)
			if err := r.checkLabelsLimit(s.LabelsStart); err != nil {
				return err
			}
		case rw1SeriesSamples:
			smp, ok := decodeCanonicalSample(v)
			if !ok {
				var err error
				if smp, err = decodeSample(v); err != nil {
					return fmt.Errorf("sample: %w", err)
				}
			}
			r.Samples = append(r.Samples, smp)
		case rw1SeriesExemplars:
			s.Exemplars++
			r.Exemplars++
		case rw1SeriesHistograms:
			ts, err := histogramTimestampOf(v)
			if err != nil {
				return fmt.Errorf("histogram: %w", err)
			}
			r.Histograms = append(r.Histograms, Histogram{TimestampMs: ts, Raw: Span{uint32(vStart), uint32(vEnd)}})
		}
	}
	s.LabelsEnd = int32(len(r.Labels))
	if st.rawStart < 0 {
		st.rawStart, st.rawEnd = start, start
	}
	s.LabelsRaw = Span{uint32(st.rawStart), uint32(st.rawEnd)}
	s.Canonical = st.canonical
	if s.Canonical {
		s.RawHash = xxh3.Hash(r.Buf[st.rawStart:st.rawEnd])
	}
	s.SamplesEnd = int32(len(r.Samples))
	s.HistogramsEnd = int32(len(r.Histograms))
	r.Series = append(r.Series, s)
	return nil
}

// labelRun tracks whether a series' labels are canonical: contiguous,
// sorted, non-empty and encoded the one way gogo and Prometheus encode them.
// Then their raw bytes, rawStart to rawEnd, are the series identity and hash
// without being rebuilt.
type labelRun struct {
	canonical        bool
	rawStart, rawEnd int
	prevName         []byte
}

// add accounts for the label field b[fieldStart:fieldEnd] named name;
// canon says whether the field itself is canonically encoded.
func (st *labelRun) add(name []byte, fieldStart, fieldEnd int, canon bool) {
	if st.canonical {
		// nameLess(nil, name) holds but for an empty name, which canon
		// rules out.
		st.canonical = canon && (st.rawStart < 0 || fieldStart == st.rawEnd) && nameLess(st.prevName, name)
		st.prevName = name
		if st.rawStart < 0 {
			st.rawStart = fieldStart
		}
		st.rawEnd = fieldEnd
	}
}

// nameLess is bytes.Compare(a, b) < 0 for label names, which are short and
// usually differ in their first byte.
func nameLess(a, b []byte) bool {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// decodeCanonicalLabels decodes the label fields from off on for as long as
// they are canonical: a one-byte tag and length, and a message
// decodeCanonicalLabel accepts. It returns where it stopped, for the
// field-by-field decoder to go on from, which takes every other encoding.
func (r *Request) decodeCanonicalLabels(off, end int, st *labelRun, labelsStart int32) (int, error) {
	b := r.Buf[:end]
	for off+2 <= end && b[off] == 0x0a && b[off+1] < 0x80 {
		vStart := off + 2
		vEnd := vStart + int(b[off+1])
		if vEnd > end {
			break
		}
		nameEnd, ok := canonicalLabelNameEnd(b, vStart, vEnd)
		if !ok {
			break
		}
		st.add(b[vStart+2:nameEnd], off, vEnd, true)
		r.Labels = append(r.Labels, canonicalLabelAt(vStart, nameEnd, vEnd))
		if r.overLabelsLimit(labelsStart) {
			return off, r.labelsLimitError()
		}
		off = vEnd
	}
	return off, nil
}

// decodeCanonicalLabel decodes the label message b[start:end] when it is
// encoded canonically: name then value, both non-empty and shorter than 128
// bytes, nothing else. That is nearly every label; the rest go through
// decodeLabel.
func decodeCanonicalLabel(b []byte, start, end int) (Label, bool) {
	nameEnd, ok := canonicalLabelNameEnd(b, start, end)
	return canonicalLabelAt(start, nameEnd, end), ok
}

// canonicalLabelAt is the label whose canonical message b[start:end] has
// its name end at nameEnd.
func canonicalLabelAt(start, nameEnd, end int) Label {
	return Label{Name: Span{uint32(start + 2), uint32(nameEnd)}, Value: Span{uint32(nameEnd + 2), uint32(end)}}
}

// canonicalLabelNameEnd is decodeCanonicalLabel's check, small enough to
// be inlined in decodeCanonicalLabels' loop: it returns where the name
// ends, and whether the message is canonical.
func canonicalLabelNameEnd(b []byte, start, end int) (int, bool) {
	// A length byte minus one below 0x7f is a length from 1 to 127.
	if end-start < 6 || b[start] != 0x0a || b[start+1]-1 >= 0x7f {
		return 0, false
	}
	nameEnd := start + 2 + int(b[start+1])
	return nameEnd, nameEnd+2 <= end && b[nameEnd] == 0x12 && b[nameEnd+1]-1 < 0x7f && nameEnd+2+int(b[nameEnd+1]) == end
}

func decodeLabel(b []byte, start, end int) (Label, error) {
	var l Label
	off := start
	for off < end {
		num, typ, n := protowire.ConsumeTag(b[off:end])
		if n < 0 {
			return l, protowire.ParseError(n)
		}
		off += n
		if (num == labelName || num == labelValue) && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b[off:end])
			if n < 0 {
				return l, protowire.ParseError(n)
			}
			sp := Span{uint32(off + n - len(v)), uint32(off + n)}
			if num == labelName {
				l.Name = sp
			} else {
				l.Value = sp
			}
			off += n
			continue
		}
		if num == labelName || num == labelValue {
			return l, fmt.Errorf("field %d has wire type %d", num, typ)
		}
		n = protowire.ConsumeFieldValue(num, typ, b[off:end])
		if n < 0 {
			return l, protowire.ParseError(n)
		}
		off += n
	}
	return l, nil
}

func decodeSample(b []byte) (Sample, error) {
	var s Sample
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return s, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == sampleValue && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			s.Value = math.Float64frombits(v)
			b = b[n:]
		case num == sampleTimestamp && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			s.TimestampMs = int64(v)
			b = b[n:]
		case num == sampleValue || num == sampleTimestamp:
			return s, fmt.Errorf("field %d has wire type %d", num, typ)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return s, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return s, nil
}

func histogramTimestampOf(b []byte) (int64, error) {
	var ts int64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		b = b[n:]
		if num == histogramTimestamp {
			if typ != protowire.VarintType {
				return 0, fmt.Errorf("field %d has wire type %d", num, typ)
			}
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, protowire.ParseError(n)
			}
			ts = int64(v)
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return ts, nil
}
