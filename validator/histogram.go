package validator

import (
	"github.com/prometheus/prometheus/prompb"
)

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
	return fh.String()
}
