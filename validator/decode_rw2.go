package validator

import (
	"fmt"
	"math"

	"github.com/zeebo/xxh3"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of remote-write 2.0 (io.prometheus.write.v2.Request).
const (
	rw2RequestSymbols    = 4
	rw2RequestTimeseries = 5

	rw2SeriesLabelsRefs       = 1
	rw2SeriesSamples          = 2
	rw2SeriesHistograms       = 3
	rw2SeriesExemplars        = 4
	rw2SeriesMetadata         = 5
	rw2SeriesCreatedTimestamp = 6 // up to Prometheus 3.8; later in Sample.start_timestamp

	rw2ExemplarLabelsRefs = 1
	rw2ExemplarValue      = 2
	rw2ExemplarTimestamp  = 3

	rw2MetadataType    = 1
	rw2MetadataHelpRef = 3
	rw2MetadataUnitRef = 4

	rw2HistogramStartTimestamp = 17
)

// DecodeRW2 parses r.Buf, a remote-write 2.0 Request, into r's series view.
// Labels are spans of the request's symbols; every reference is checked,
// so a bad one is an error naming the series, never a panic.
func DecodeRW2(r *Request) error {
	r.Version = RW2
	r.resetView()
	if len(r.Buf) > math.MaxUint32 {
		return NewError(ErrIDRequestTooLarge, CauseTooLarge, nil, "request of %d bytes is too large to decode", len(r.Buf))
	}
	// Symbols may follow the series on the wire: collect them first.
	// Senders write them all before the series; the second pass starts at
	// the first series.
	b := r.Buf
	firstSeries := len(b)
	for off := 0; off < len(b); {
		fieldStart := off
		num, typ, n := consumeTag(b[off:])
		if n < 0 {
			return badProtobuf("write request", protowire.ParseError(n))
		}
		off += n
		if num != rw2RequestSymbols && num != rw2RequestTimeseries {
			r.RW1Fields = r.RW1Fields || num == rw1WriteRequestTimeseries || num == rw1WriteRequestMetadata
			n = protowire.ConsumeFieldValue(num, typ, b[off:])
			if n < 0 {
				return badProtobuf("write request", protowire.ParseError(n))
			}
			off += n
			continue
		}
		if typ != protowire.BytesType {
			return badProtobuf("write request", fmt.Errorf("field %d has wire type %d", num, typ))
		}
		v, n := consumeBytes(b[off:])
		if n < 0 {
			return badProtobuf("write request", protowire.ParseError(n))
		}
		if num == rw2RequestSymbols {
			start := off + n - len(v)
			r.Symbols = append(r.Symbols, Span{uint32(start), uint32(start + len(v))})
		} else {
			firstSeries = min(firstSeries, fieldStart)
		}
		off += n
	}
	for off := firstSeries; off < len(b); {
		num, typ, n := consumeTag(b[off:])
		off += n
		if num != rw2RequestTimeseries {
			off += protowire.ConsumeFieldValue(num, typ, b[off:])
			continue
		}
		if err := r.checkSeriesLimit(); err != nil {
			return err
		}
		v, n := consumeBytes(b[off:])
		start := off + n - len(v)
		if err := r.decodeRW2Series(start, start+len(v)); err != nil {
			return seriesError(len(r.Series), err)
		}
		off += n
	}
	return nil
}

// labelRefs pairs a series' label references into names and values.
type labelRefs struct {
	n       int // references seen
	pending uint32
}

// add takes the next label reference of the series: a name, or the value
// that completes a label. The caller checks the label limit once a field.
func (lr *labelRefs) add(r *Request, ref uint64) error {
	if ref >= uint64(len(r.Symbols)) {
		return fmt.Errorf("label reference %d out of range: the request has %d symbols", ref, len(r.Symbols))
	}
	lr.n++
	if lr.n%2 != 0 {
		lr.pending = uint32(ref)
		return nil
	}
	r.Labels = append(r.Labels, Label{Name: r.Symbols[lr.pending], Value: r.Symbols[ref]})
	return nil
}

func (r *Request) decodeRW2Series(start, end int) error {
	s := Series{
		Raw:             Span{uint32(start), uint32(end)},
		LabelsStart:     int32(len(r.Labels)),
		SamplesStart:    int32(len(r.Samples)),
		HistogramsStart: int32(len(r.Histograms)),
	}
	b := r.Buf[:end]
	var lr labelRefs
	for off := start; off < end; {
		num, typ, n := consumeTag(b[off:])
		if n < 0 {
			return protowire.ParseError(n)
		}
		off += n
		switch {
		case num == rw2SeriesLabelsRefs && typ == protowire.BytesType: // packed
			v, n := consumeBytes(b[off:])
			if n < 0 {
				return protowire.ParseError(n)
			}
			off += n
			for i := 0; i < len(v); {
				// References take one or two bytes below 16384 symbols.
				ref := uint64(v[i])
				if ref < 0x80 {
					i++
				} else if i+1 < len(v) && v[i+1] < 0x80 {
					ref = ref&0x7f | uint64(v[i+1])<<7
					i += 2
				} else {
					var m int
					if ref, m = protowire.ConsumeVarint(v[i:]); m < 0 {
						return protowire.ParseError(m)
					}
					i += m
				}
				// labelRefs.add, inlined for the packed field every sender
				// writes: a name, or the value completing a label.
				if ref >= uint64(len(r.Symbols)) {
					return lr.add(r, ref)
				}
				lr.n++
				if lr.n&1 != 0 {
					lr.pending = uint32(ref)
					continue
				}
				r.Labels = append(r.Labels, Label{Name: r.Symbols[lr.pending], Value: r.Symbols[ref]})
			}
			// Once a field: a field is no larger than the body.
			if err := r.checkLabelsLimit(s.LabelsStart); err != nil {
				return err
			}
		case num == rw2SeriesLabelsRefs && typ == protowire.VarintType: // unpacked
			ref, n := protowire.ConsumeVarint(b[off:])
			if n < 0 {
				return protowire.ParseError(n)
			}
			off += n
			if err := lr.add(r, ref); err != nil {
				return err
			}
			if err := r.checkLabelsLimit(s.LabelsStart); err != nil {
				return err
			}
		case (num == rw2SeriesSamples || num == rw2SeriesHistograms) && typ == protowire.BytesType:
			v, n := consumeBytes(b[off:])
			if n < 0 {
				return protowire.ParseError(n)
			}
			vStart := off + n - len(v)
			off += n
			if num == rw2SeriesSamples {
				// The same message as remote write 1.0's sample, with the
				// same fast path.
				smp, ok := decodeCanonicalSample(v)
				if !ok {
					var err error
					if smp, err = decodeSample(v); err != nil {
						return fmt.Errorf("sample: %w", err)
					}
				}
				r.Samples = append(r.Samples, smp)
				continue
			}
			ts, err := histogramTimestampOf(v)
			if err != nil {
				return fmt.Errorf("histogram: %w", err)
			}
			r.Histograms = append(r.Histograms, Histogram{TimestampMs: ts, Raw: Span{uint32(vStart), uint32(vStart + len(v))}})
		case (num == rw2SeriesExemplars || num == rw2SeriesMetadata) && typ == protowire.BytesType:
			v, n := consumeBytes(b[off:])
			if n < 0 {
				return protowire.ParseError(n)
			}
			off += n
			if num == rw2SeriesExemplars {
				if err := r.checkRW2Exemplar(v); err != nil {
					return fmt.Errorf("exemplar: %w", err)
				}
				s.Exemplars++
				r.Exemplars++
				continue
			}
			if err := r.checkRW2Metadata(v); err != nil {
				return fmt.Errorf("metadata: %w", err)
			}
		case num >= rw2SeriesLabelsRefs && num <= rw2SeriesMetadata:
			return fmt.Errorf("field %d has wire type %d", num, typ)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b[off:])
			if n < 0 {
				return protowire.ParseError(n)
			}
			off += n
		}
	}
	if lr.n%2 != 0 {
		return fmt.Errorf("odd number of label references (%d)", lr.n)
	}
	s.LabelsEnd = int32(len(r.Labels))
	// The series' identity bytes, written while its labels are in cache,
	// when they are sorted, non-empty and short, as nearly always.
	identStart := len(r.Ident)
	r.Ident, s.Canonical = appendShortLabels(r.Ident, r.Buf, r.Labels[s.LabelsStart:s.LabelsEnd], true)
	if len(r.Ident) > math.MaxUint32 {
		// Past what a Span addresses: identity built when needed.
		r.Ident, s.Canonical = r.Ident[:identStart], false
	}
	s.LabelsRaw = Span{uint32(identStart), uint32(len(r.Ident))}
	if s.Canonical {
		s.RawHash = xxh3.Hash(r.Ident[identStart:])
	}
	s.SamplesEnd = int32(len(r.Samples))
	s.HistogramsEnd = int32(len(r.Histograms))
	r.Series = append(r.Series, s)
	return nil
}

// symbolRef checks one reference into the symbol table.
func (r *Request) symbolRef(ref uint64) error {
	if ref >= uint64(len(r.Symbols)) {
		return fmt.Errorf("symbol reference %d out of range: the request has %d symbols", ref, len(r.Symbols))
	}
	return nil
}

// forEachRef calls fn with every reference of a labels_refs field, packed
// (wire type bytes) or not.
func forEachRef(typ protowire.Type, b []byte, fn func(uint64) error) (int, error) {
	if typ == protowire.VarintType {
		ref, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		return n, fn(ref)
	}
	if typ != protowire.BytesType {
		return 0, fmt.Errorf("labels_refs has wire type %d", typ)
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	for len(v) > 0 {
		ref, m := protowire.ConsumeVarint(v)
		if m < 0 {
			return 0, protowire.ParseError(m)
		}
		if err := fn(ref); err != nil {
			return 0, err
		}
		v = v[m:]
	}
	return n, nil
}

// checkRW2Exemplar checks the label references of an exemplar message, so
// that converting it later cannot fail.
func (r *Request) checkRW2Exemplar(b []byte) error {
	refs := 0
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return protowire.ParseError(n)
		}
		off += n
		if num == rw2ExemplarLabelsRefs {
			n, err := forEachRef(typ, b[off:], func(ref uint64) error {
				refs++
				return r.symbolRef(ref)
			})
			if err != nil {
				return err
			}
			off += n
			continue
		}
		if (num == rw2ExemplarValue && typ != protowire.Fixed64Type) || (num == rw2ExemplarTimestamp && typ != protowire.VarintType) {
			return fmt.Errorf("field %d has wire type %d", num, typ)
		}
		n = protowire.ConsumeFieldValue(num, typ, b[off:])
		if n < 0 {
			return protowire.ParseError(n)
		}
		off += n
	}
	if refs%2 != 0 {
		return fmt.Errorf("odd number of label references (%d)", refs)
	}
	return nil
}

// checkRW2Metadata checks the help and unit references of a metadata
// message.
func (r *Request) checkRW2Metadata(b []byte) error {
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return protowire.ParseError(n)
		}
		off += n
		if num == rw2MetadataType || num == rw2MetadataHelpRef || num == rw2MetadataUnitRef {
			if typ != protowire.VarintType {
				return fmt.Errorf("field %d has wire type %d", num, typ)
			}
			v, n := protowire.ConsumeVarint(b[off:])
			if n < 0 {
				return protowire.ParseError(n)
			}
			off += n
			if num != rw2MetadataType {
				if err := r.symbolRef(v); err != nil {
					return err
				}
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b[off:])
		if n < 0 {
			return protowire.ParseError(n)
		}
		off += n
	}
	return nil
}
