package validator

import (
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
)

// maxRejectedExamples caps the duplicates a reject message names.
const maxRejectedExamples = 10

// RejectError returns the error a request refused by the reject action is
// answered with: bad data, so that senders do not retry it, naming up to
// ten offending series with their timestamp and values.
func (p *Patch) RejectError(r *Request, res *Result) error {
	var b strings.Builder
	n := 0
	for k := range res.Duplicates {
		if k >= len(p.Outcomes) || p.Outcomes[k].Action != ActionReject {
			continue
		}
		n++
		if n > maxRejectedExamples {
			continue
		}
		d := &res.Duplicates[k]
		if n > 1 {
			b.WriteString("; ")
		}
		b.WriteString(labels.FromMap(r.LabelMap(int(d.Sample.Series))).String())
		b.WriteString(" at ")
		b.WriteString(strconv.FormatInt(d.TimestampMs, 10))
		if d.Kind == AcrossRequests {
			b.WriteString(" (already forwarded): value ")
			b.WriteString(sampleString(r, d.Sample))
			continue
		}
		b.WriteString(": values ")
		b.WriteString(sampleString(r, d.First))
		b.WriteString(", ")
		b.WriteString(sampleString(r, d.Sample))
	}
	if n > maxRejectedExamples {
		b.WriteString("; and ")
		b.WriteString(strconv.Itoa(n - maxRejectedExamples))
		b.WriteString(" more")
	}
	return NewError(ErrIDSampleDuplicateTimestamp, CauseBadData, nil,
		"push refused: %d samples repeat the series and timestamp of another sample: %s", n, b.String())
}

func sampleString(r *Request, ref SampleRef) string {
	if ref.Histogram {
		return HistogramString(r, r.Histograms[ref.Index])
	}
	return FormatValue(r.Samples[ref.Index].Value)
}

// FormatValue renders a sample's value for people: a number, or "stale
// marker", which printed as a number would read NaN, the same as an
// ordinary NaN it conflicts with.
func FormatValue(v float64) string {
	if value.IsStaleNaN(v) {
		return "stale marker"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
