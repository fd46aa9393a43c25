package validator

import (
	"math"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
)

// What keep-max, keep-min and sum mean for a group:
//
//   - Float samples compare by value. NaN, stale markers included, loses to
//     every number, as in PromQL's max and min; a group of NaNs keeps its
//     first sample. Ties keep the earliest sample.
//   - Native histograms compare by their count of observations, the
//     measure of a cumulative histogram's progress; stale markers lose, ties
//     keep the earliest.
//   - sum adds the values in request order, leaving stale markers out: a
//     target that went away does not turn its sibling's value into NaN. A
//     group of stale markers stays one stale marker. Histograms are added
//     with Prometheus' own histogram arithmetic (FloatHistogram.Add), which
//     reconciles schemas; the sum of integer histograms is an integer
//     histogram when its counts allow.
//   - A group mixing floats and histograms has no order and no sum, nor do
//     histograms Prometheus refuses to add: those groups fall back to
//     keep-first, and the report says so. keep-last does too for a mixed
//     group, as the kept value goes to the group's first sample
//     (keepValueOf), which a float cannot hold for a histogram.
//   - keep-last, keep-max and keep-min write the kept value at the group's
//     first sample, as sum does, so that it reaches the TSDB in order.

// pickExtreme returns the index of the candidate to keep under keep-max
// (max) or keep-min, or false when the group cannot be ordered.
func pickExtreme(r *Request, cands []member, max bool) (int, bool) {
	if !oneKind(cands) {
		return 0, false
	}
	hist := cands[0].ref.Histogram
	best, bestV := -1, 0.0
	for i, c := range cands {
		var v float64
		if hist {
			h, err := DecodeHistogram(r, r.Histograms[c.ref.Index])
			if err != nil {
				return 0, false
			}
			if value.IsStaleNaN(h.Sum) {
				continue
			}
			v = histogramCount(h)
		} else {
			v = r.Samples[c.ref.Index].Value
		}
		if math.IsNaN(v) {
			continue
		}
		if best < 0 || (max && v > bestV) || (!max && v < bestV) {
			best, bestV = i, v
		}
	}
	if best < 0 {
		best = 0
	}
	return best, true
}

// oneKind says whether the candidates are all floats or all histograms.
func oneKind(cands []member) bool {
	for _, c := range cands[1:] {
		if c.ref.Histogram != cands[0].ref.Histogram {
			return false
		}
	}
	return true
}

func histogramCount(h *prompb.Histogram) float64 {
	if h.IsFloatHistogram() {
		return h.GetCountFloat()
	}
	return float64(h.GetCountInt())
}

// sum plans the sum action: cands[0] keeps the total, the others go. It
// reports false when the group cannot be summed.
func (p *Patch) sum(r *Request, cands []member) bool {
	if !oneKind(cands) {
		return false
	}
	if cands[0].ref.Histogram {
		if !p.sumHistograms(r, cands) {
			return false
		}
	} else {
		k := cands[0].ref.Index
		if total, ok := sumFloats(r, cands); ok && math.Float64bits(total) != math.Float64bits(r.Samples[k].Value) {
			p.samples[k] = samplePlan{set: true, value: total}
			p.chargeChange(cands)
		}
	}
	p.keep(cands, 0)
	return true
}

// sumFloats adds the float candidates' values, stale markers left out; it
// reports false when there are none but stale markers.
func sumFloats(r *Request, cands []member) (float64, bool) {
	total, n := 0.0, 0
	for _, c := range cands {
		if v := r.Samples[c.ref.Index].Value; !value.IsStaleNaN(v) {
			total += v
			n++
		}
	}
	return total, n > 0
}

func (p *Patch) sumHistograms(r *Request, cands []member) bool {
	raw, ok := histogramSum(r, cands)
	if !ok {
		return false
	}
	if k := cands[0].ref.Index; raw != nil && string(raw) != string(r.Bytes(r.Histograms[k].Raw)) {
		p.hists[k].raw = raw
		p.chargeChange(cands)
	}
	return true
}

// histogramSum encodes the sum of the histogram candidates at the group's
// timestamp, or returns nil when there are none but stale markers (the
// first is kept). It reports false when they cannot be summed.
func histogramSum(r *Request, cands []member) ([]byte, bool) {
	var acc *histogram.FloatHistogram
	allInt := true
	for _, c := range cands {
		h, err := DecodeHistogram(r, r.Histograms[c.ref.Index])
		if err != nil {
			return nil, false
		}
		if value.IsStaleNaN(h.Sum) {
			continue
		}
		allInt = allInt && !h.IsFloatHistogram()
		fh := h.ToFloatHistogram()
		if !summable(fh) {
			return nil, false
		}
		if acc == nil {
			acc = fh
			continue
		}
		if _, _, _, err := acc.Add(fh); err != nil {
			return nil, false
		}
	}
	if acc == nil {
		return nil, true
	}
	ts := r.Histograms[cands[0].ref.Index].TimestampMs
	var out prompb.Histogram
	if ih, ok := toIntHistogram(acc); allInt && ok {
		out = prompb.FromIntHistogram(ts, ih)
	} else {
		out = prompb.FromFloatHistogram(ts, acc)
	}
	raw, err := out.Marshal()
	if err != nil {
		return nil, false
	}
	return raw, true
}

// summable says whether Prometheus' FloatHistogram.Add can take fh: spans
// that disagree with the buckets make it panic, a zero threshold it cannot
// take (AddableZeroThreshold) makes it loop. Such a group is left to
// keep-first.
func summable(fh *histogram.FloatHistogram) bool {
	return fh.Validate() == nil && AddableZeroThreshold(fh.ZeroThreshold)
}

// toIntHistogram converts fh back to an integer histogram when every count
// is a whole number.
func toIntHistogram(fh *histogram.FloatHistogram) (*histogram.Histogram, bool) {
	whole := func(f float64) bool { return f >= 0 && f == math.Trunc(f) && f < 1<<53 }
	if !whole(fh.Count) || !whole(fh.ZeroCount) {
		return nil, false
	}
	deltas := func(counts []float64) ([]int64, bool) {
		out := make([]int64, len(counts))
		prev := int64(0)
		for i, c := range counts {
			if !whole(c) {
				return nil, false
			}
			out[i] = int64(c) - prev
			prev = int64(c)
		}
		return out, true
	}
	pos, ok := deltas(fh.PositiveBuckets)
	if !ok {
		return nil, false
	}
	neg, ok := deltas(fh.NegativeBuckets)
	if !ok {
		return nil, false
	}
	return &histogram.Histogram{
		CounterResetHint: fh.CounterResetHint,
		Schema:           fh.Schema,
		ZeroThreshold:    fh.ZeroThreshold,
		ZeroCount:        uint64(fh.ZeroCount),
		Count:            uint64(fh.Count),
		Sum:              fh.Sum,
		PositiveSpans:    fh.PositiveSpans,
		NegativeSpans:    fh.NegativeSpans,
		PositiveBuckets:  pos,
		NegativeBuckets:  neg,
		CustomValues:     fh.CustomValues,
	}, true
}
