package validator

import (
	"bytes"
	"errors"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the remote-write 1.0 messages only the converter writes.
const (
	rw1ExemplarLabels    = 1
	rw1ExemplarValue     = 2
	rw1ExemplarTimestamp = 3

	// rw1SeriesCreatedTimestamp is Mimir's TimeSeries.created_timestamp.
	rw1SeriesCreatedTimestamp = 6

	rw1MetadataType       = 1
	rw1MetadataFamilyName = 2
	rw1MetadataHelp       = 4
	rw1MetadataUnit       = 5
)

// Metric types shared by both protocols' metadata enums.
const (
	metricTypeHistogram      = 3
	metricTypeGaugeHistogram = 4
	metricTypeSummary        = 5
)

// ConvertRW2 converts r, a decoded remote-write 2.0 request, to the
// remote-write 1.0 WriteRequest an upstream that only speaks 1.0 takes, and
// appends its protobuf to out. Series keep their order; labels come from
// the symbols, samples and histograms keep their fields (histograms have
// the same fields 1-16 in both protocols; the 2.0 start timestamps have no
// 1.0 field and are left out), exemplars get their labels, a 2.0 created
// timestamp becomes Mimir's created_timestamp, and the per-series metadata
// becomes one 1.0 MetricMetadata per metric family.
//
// DecodeRW2 has checked every reference, so conversion cannot fail.
func ConvertRW2(r *Request, out []byte) []byte {
	var families map[string]struct{}
	type meta struct {
		typ        uint64
		help, unit Span
		family     []byte
	}
	var metas []meta
	for i := range r.Series {
		var m meta
		var hasMeta bool
		out, m.typ, m.help, m.unit, hasMeta = r.appendRW1Series(i, out)
		if !hasMeta {
			continue
		}
		m.family = familyName(r.MetricName(i), m.typ)
		if families == nil {
			families = map[string]struct{}{}
		}
		if _, seen := families[string(m.family)]; seen || len(m.family) == 0 {
			continue
		}
		families[string(m.family)] = struct{}{}
		metas = append(metas, m)
	}
	for _, m := range metas {
		out = protowire.AppendTag(out, rw1WriteRequestMetadata, protowire.BytesType)
		lenAt := len(out)
		out = append(out, make([]byte, maxVarintLen)...)
		bodyAt := len(out)
		if m.typ != 0 {
			out = protowire.AppendTag(out, rw1MetadataType, protowire.VarintType)
			out = protowire.AppendVarint(out, m.typ)
		}
		out = appendBytesField(out, rw1MetadataFamilyName, m.family)
		out = appendBytesField(out, rw1MetadataHelp, r.Bytes(m.help))
		out = appendBytesField(out, rw1MetadataUnit, r.Bytes(m.unit))
		out = fixLength(out, lenAt, bodyAt)
	}
	return out
}

// RW2ToRW1 converts the remote-write 2.0 protobuf b to remote write 1.0,
// appending to out. It fails when b is not a valid 2.0 request, and, as
// Mimir's HTTP push refuses them, when b carries a remote write 1.0 field
// or its symbols do not start with the empty string: an upstream that
// takes the converted request must not accept what Mimir refuses.
func RW2ToRW1(b, out []byte) ([]byte, error) {
	r := GetRequest()
	defer func() {
		r.Buf = nil // b is the caller's
		PutRequest(r)
	}()
	r.Buf = b
	if err := DecodeRW2(r); err != nil {
		return nil, err
	}
	if len(r.Symbols) > 0 && r.Symbols[0].Len() != 0 {
		return nil, badProtobuf("write request", errors.New("the symbols do not start with the empty string"))
	}
	if r.RW1Fields {
		return nil, badProtobuf("write request", errors.New("a remote write 1.0 field (timeseries or metadata) in a remote write 2.0 request"))
	}
	return ConvertRW2(r, out), nil
}

// familyName returns the metric family of a series name: the name itself,
// minus the suffix of a classic histogram or summary series.
func familyName(name []byte, typ uint64) []byte {
	var suffixes []string
	switch typ {
	case metricTypeHistogram:
		suffixes = []string{"_bucket", "_sum", "_count", "_created"}
	case metricTypeGaugeHistogram:
		suffixes = []string{"_bucket", "_gsum", "_gcount"}
	case metricTypeSummary:
		suffixes = []string{"_sum", "_count", "_created"}
	}
	for _, s := range suffixes {
		if trimmed, ok := bytes.CutSuffix(name, []byte(s)); ok && len(trimmed) > 0 {
			return trimmed
		}
	}
	return name
}

// appendRW1Series appends series i as a 1.0 timeseries field and returns
// its metadata, if it has any.
func (r *Request) appendRW1Series(i int, out []byte) (_ []byte, typ uint64, help, unit Span, hasMeta bool) {
	s := &r.Series[i]
	out = protowire.AppendTag(out, rw1WriteRequestTimeseries, protowire.BytesType)
	lenAt := len(out)
	out = append(out, make([]byte, maxVarintLen)...)
	bodyAt := len(out)
	for _, l := range r.SeriesLabels(i) {
		out = appendLabelMsg(out, rw1SeriesLabels, r.Bytes(l.Name), r.Bytes(l.Value))
	}
	b := r.Buf[:s.Raw.End]
	for off := int(s.Raw.Start); off < int(s.Raw.End); {
		num, wt, n := protowire.ConsumeTag(b[off:])
		off += n
		n = protowire.ConsumeFieldValue(num, wt, b[off:])
		field := b[off : off+n]
		off += n
		switch {
		case num == rw2SeriesSamples && wt == protowire.BytesType:
			v, _ := protowire.ConsumeBytes(field)
			smp, _ := decodeSample(v)
			out = appendSample(out, smp)
		case num == rw2SeriesHistograms && wt == protowire.BytesType:
			v, _ := protowire.ConsumeBytes(field)
			out = appendHistogramRW1(out, v)
		case num == rw2SeriesExemplars && wt == protowire.BytesType:
			v, _ := protowire.ConsumeBytes(field)
			out = r.appendExemplarRW1(out, v)
		case num == rw2SeriesMetadata && wt == protowire.BytesType:
			v, _ := protowire.ConsumeBytes(field)
			typ, help, unit = parseRW2Metadata(r, v)
			hasMeta = typ != 0 || help.Len() > 0 || unit.Len() > 0
		case num == rw2SeriesCreatedTimestamp && wt == protowire.VarintType:
			out = protowire.AppendTag(out, rw1SeriesCreatedTimestamp, protowire.VarintType)
			out = append(out, field...)
		}
	}
	return fixLength(out, lenAt, bodyAt), typ, help, unit, hasMeta
}

func appendBytesField(out []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return out
	}
	out = protowire.AppendTag(out, num, protowire.BytesType)
	return protowire.AppendBytes(out, v)
}

// appendLabelMsg appends a Label message as field num.
func appendLabelMsg(out []byte, num protowire.Number, name, value []byte) []byte {
	out = protowire.AppendTag(out, num, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(1+protowire.SizeBytes(len(name))+1+protowire.SizeBytes(len(value))))
	out = protowire.AppendTag(out, labelName, protowire.BytesType)
	out = protowire.AppendBytes(out, name)
	out = protowire.AppendTag(out, labelValue, protowire.BytesType)
	return protowire.AppendBytes(out, value)
}

// appendSample appends a 1.0 samples field, encoded as gogo encodes it.
func appendSample(out []byte, s Sample) []byte {
	bits := math.Float64bits(s.Value)
	size := 0
	if bits != 0 {
		size += 1 + 8
	}
	if s.TimestampMs != 0 {
		size += 1 + protowire.SizeVarint(uint64(s.TimestampMs))
	}
	out = protowire.AppendTag(out, rw1SeriesSamples, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(size))
	if bits != 0 {
		out = protowire.AppendTag(out, sampleValue, protowire.Fixed64Type)
		out = protowire.AppendFixed64(out, bits)
	}
	if s.TimestampMs != 0 {
		out = protowire.AppendTag(out, sampleTimestamp, protowire.VarintType)
		out = protowire.AppendVarint(out, uint64(s.TimestampMs))
	}
	return out
}

// appendHistogramRW1 appends the 2.0 histogram message h as a 1.0
// histograms field: the same fields, minus the 2.0-only start timestamp.
func appendHistogramRW1(out, h []byte) []byte {
	size := len(h)
	for off := 0; off < len(h); {
		start := off
		num, typ, n := protowire.ConsumeTag(h[off:])
		off += n
		off += protowire.ConsumeFieldValue(num, typ, h[off:])
		if num == rw2HistogramStartTimestamp {
			size -= off - start
		}
	}
	out = protowire.AppendTag(out, rw1SeriesHistograms, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(size))
	if size == len(h) {
		return append(out, h...)
	}
	for off := 0; off < len(h); {
		start := off
		num, typ, n := protowire.ConsumeTag(h[off:])
		off += n
		off += protowire.ConsumeFieldValue(num, typ, h[off:])
		if num != rw2HistogramStartTimestamp {
			out = append(out, h[start:off]...)
		}
	}
	return out
}

// appendExemplarRW1 appends the 2.0 exemplar message e as a 1.0 exemplars
// field, its label references resolved.
func (r *Request) appendExemplarRW1(out, e []byte) []byte {
	out = protowire.AppendTag(out, rw1SeriesExemplars, protowire.BytesType)
	lenAt := len(out)
	out = append(out, make([]byte, maxVarintLen)...)
	bodyAt := len(out)
	var value uint64
	var ts int64
	var name uint64
	refs := 0
	for off := 0; off < len(e); {
		num, typ, n := protowire.ConsumeTag(e[off:])
		off += n
		switch {
		case num == rw2ExemplarLabelsRefs:
			n, _ := forEachRef(typ, e[off:], func(ref uint64) error {
				if refs%2 == 0 {
					name = ref
				} else {
					out = appendLabelMsg(out, rw1ExemplarLabels, r.Bytes(r.Symbols[name]), r.Bytes(r.Symbols[ref]))
				}
				refs++
				return nil
			})
			off += n
		case num == rw2ExemplarValue && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(e[off:])
			value = v
			off += n
		case num == rw2ExemplarTimestamp && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(e[off:])
			ts = int64(v)
			off += n
		default:
			off += protowire.ConsumeFieldValue(num, typ, e[off:])
		}
	}
	if value != 0 {
		out = protowire.AppendTag(out, rw1ExemplarValue, protowire.Fixed64Type)
		out = protowire.AppendFixed64(out, value)
	}
	if ts != 0 {
		out = protowire.AppendTag(out, rw1ExemplarTimestamp, protowire.VarintType)
		out = protowire.AppendVarint(out, uint64(ts))
	}
	return fixLength(out, lenAt, bodyAt)
}

// parseRW2Metadata returns the type, help and unit of a checked metadata
// message.
func parseRW2Metadata(r *Request, b []byte) (typ uint64, help, unit Span) {
	for off := 0; off < len(b); {
		num, wt, n := protowire.ConsumeTag(b[off:])
		off += n
		if wt == protowire.VarintType && (num == rw2MetadataType || num == rw2MetadataHelpRef || num == rw2MetadataUnitRef) {
			v, n := protowire.ConsumeVarint(b[off:])
			off += n
			switch num {
			case rw2MetadataType:
				typ = v
			case rw2MetadataHelpRef:
				help = r.Symbols[v]
			case rw2MetadataUnitRef:
				unit = r.Symbols[v]
			}
			continue
		}
		off += protowire.ConsumeFieldValue(num, wt, b[off:])
	}
	return typ, help, unit
}
