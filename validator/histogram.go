package validator

import (
	"math"

	"github.com/prometheus/prometheus/prompb"
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
	return fh.String()
}
