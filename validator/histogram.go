package validator

import (
	"math"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"google.golang.org/protobuf/encoding/protowire"
)

// AddableZeroThreshold reports whether a native histogram's zero threshold
// is one Prometheus' histogram arithmetic can take: a finite number >= 0.
// FloatHistogram.Add, and with it PromQL's sum, widens one zero bucket until
// the two thresholds are equal, which a NaN never is: it loops forever. A
// negative or infinite threshold is no histogram a client writes either.
func AddableZeroThreshold(th float64) bool {
	return th >= 0 && !math.IsInf(th, 1)
}

// DecodeHistogram decodes the histogram message h of r. It is used on the
// cold path only: comparing and reporting duplicates.
func DecodeHistogram(r *Request, h Histogram) (*prompb.Histogram, error) {
	var ph prompb.Histogram
	if err := ph.Unmarshal(r.Bytes(h.Raw)); err != nil {
		return nil, err
	}
	return &ph, nil
}

// histogramsEqual reports whether two native histograms are the same sample
// as Prometheus' TSDB sees it: same kind (integer or float) and equal
// buckets, counts and sum, floats compared by bits.
func histogramsEqual(r *Request, a, b Histogram) bool {
	ha, errA := DecodeHistogram(r, a)
	hb, errB := DecodeHistogram(r, b)
	if errA != nil || errB != nil {
		return false
	}
	if ha.IsFloatHistogram() != hb.IsFloatHistogram() {
		return false
	}
	return ha.ToFloatHistogram().Equals(hb.ToFloatHistogram())
}

// HistogramString renders histogram h of r for reports.
func HistogramString(r *Request, h Histogram) string {
	ph, err := DecodeHistogram(r, h)
	if err != nil {
		return "<undecodable histogram>"
	}
	fh := ph.ToFloatHistogram()
	if value.IsStaleNaN(fh.Sum) {
		return "stale marker (native histogram)"
	}
	return fh.String()
}

// encodingHash hashes an encoded histogram message as written in field
// order, as Prometheus' (gogo) encoder writes it. protobuf-go writes the
// oneof fields (the counts) after the others, so the same histogram sent
// by such a client, or re-encoded from a Validate call's message, would
// otherwise hash differently from what Prometheus sent.
func encodingHash(raw []byte) uint64 {
	if fieldsInOrder(raw) {
		return xxhash.Sum64(raw)
	}
	var ph prompb.Histogram
	if ph.Unmarshal(raw) != nil {
		return xxhash.Sum64(raw)
	}
	b, err := ph.Marshal()
	if err != nil {
		return xxhash.Sum64(raw)
	}
	return xxhash.Sum64(b)
}

// fieldsInOrder reports whether the message b is well formed with its
// field numbers never decreasing (a repeated field's elements follow one
// another).
func fieldsInOrder(b []byte) bool {
	var last protowire.Number
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 || num < last {
			return false
		}
		last = num
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}
