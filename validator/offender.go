package validator

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"github.com/pushguard/pushguard/validator/report"
)

// Meta is what the receiving side knows about a push besides its body.
type Meta struct {
	Tenant    string
	UserAgent string
	// RemoteAddr is the sender's address (host, no port), proxies trusted
	// by the receiver already resolved.
	RemoteAddr string
	Time       time.Time
}

// sourceNames are the Mimir/Cortex WriteRequest sources worth reporting.
// API (0) is the default and cannot be told apart from an unset field.
var sourceNames = map[int32]string{1: "RULE", 2: "OTLP"}

// Offenders turns one request's duplicates into offender records, one per
// (metric, kind, origin). outcomes may be nil when no action was planned.
func Offenders(r *Request, res *Result, outcomes []Outcome, originLabels []string, meta Meta) []*report.Offender {
	order, example := offenders(r, res, outcomes, originLabels, meta)
	for i, o := range order {
		o.Example = example(i)
	}
	return order
}

// offenders is Offenders with the examples left empty: example(i) builds
// order[i]'s, from its first conflicting duplicate, or its first
// duplicate when none conflicts. Building examples (two label maps each)
// is most of an offender's cost, and the report needs one only for an
// offender it did not know.
func offenders(r *Request, res *Result, outcomes []Outcome, originLabels []string, meta Meta) (order []*report.Offender, example func(i int) report.Example) {
	if len(res.Duplicates) == 0 {
		return nil, nil
	}
	byKey := make(map[string]int)
	var exampleDup []int // the duplicate each offender's example shows
	// The key is built from the request's bytes, so that only a new
	// offender costs strings and maps; repeats of one cost a lookup.
	var key []byte
	for k := range res.Duplicates {
		d := &res.Duplicates[k]
		si := int(d.Sample.Series)
		key = append(key[:0], r.MetricName(si)...)
		key = append(key, 0xff, byte(d.Kind))
		for _, name := range originLabels {
			key = append(key, 0xff)
			key = append(key, originValue(r, si, name)...)
		}
		i, ok := byKey[string(key)]
		if !ok {
			o := &report.Offender{
				Tenant:        meta.Tenant,
				Metric:        string(r.MetricName(si)),
				Kind:          d.Kind.String(),
				Origin:        originOf(r, si, originLabels),
				FirstSeen:     meta.Time,
				LastSeen:      meta.Time,
				Action:        string(ActionReport),
				UserAgent:     meta.UserAgent,
				SenderAddress: meta.RemoteAddr,
				Source:        sourceNames[r.Source],
			}
			i = len(order)
			byKey[string(key)] = i
			order = append(order, o)
			exampleDup = append(exampleDup, k)
		}
		o := order[i]
		if d.Conflicting {
			// Show the operator a conflict rather than an identical repeat.
			if o.ConflictingSamples == 0 {
				exampleDup[i] = k
			}
			o.ConflictingSamples++
		} else {
			o.IdenticalSamples++
		}
		if k < len(outcomes) {
			oc := &outcomes[k]
			o.Action, o.RequestedAction = string(oc.Action), string(oc.Requested)
			o.DroppedSamples += int64(oc.Dropped)
			o.ChangedSamples += int64(oc.Changed)
			o.RelabelledSamples += int64(oc.Relabelled)
		}
	}
	return order, func(i int) report.Example { return exampleOf(r, &res.Duplicates[exampleDup[i]]) }
}

// originValue returns the value of label name of series i, nil when the
// series does not have it (or has it empty, which is the same).
func originValue(r *Request, si int, name string) []byte {
	for _, l := range r.SeriesLabels(si) {
		if string(r.Bytes(l.Name)) == name {
			return r.Bytes(l.Value)
		}
	}
	return nil
}

// originOf returns the origin labels of series si.
func originOf(r *Request, si int, originLabels []string) map[string]string {
	var valueArr [16]Span
	var nameArr [16]string
	values, names := valueArr[:0], nameArr[:0] // names taken from originLabels
	for _, l := range r.SeriesLabels(si) {
		if l.Value.Len() == 0 {
			continue
		}
		name := r.Bytes(l.Name)
		for _, want := range originLabels {
			if want == string(name) {
				values, names = append(values, l.Value), append(names, want)
				break
			}
		}
	}
	var strArr [16]string
	strs := r.sharedStrings(strArr[:0], values)
	origin := make(map[string]string, len(strs))
	for j, v := range strs {
		origin[names[j]] = v
	}
	return origin
}

// sameLabels reports whether series i and j have the same labels, in the
// same order: then their label maps are equal, and an example shares one.
// It is the case of nearly every across_series duplicate, whose two series
// share an identity.
func sameLabels(r *Request, i, j int) bool {
	a, b := r.SeriesLabels(i), r.SeriesLabels(j)
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !bytes.Equal(r.Bytes(a[k].Name), r.Bytes(b[k].Name)) || !bytes.Equal(r.Bytes(a[k].Value), r.Bytes(b[k].Value)) {
			return false
		}
	}
	return true
}

func exampleOf(r *Request, d *Duplicate) report.Example {
	ex := report.Example{
		Labels:      r.LabelMap(int(d.Sample.Series)),
		TimestampMs: d.TimestampMs,
	}
	if d.First.Series != d.Sample.Series {
		ex.FirstLabels = ex.Labels
		if !sameLabels(r, int(d.First.Series), int(d.Sample.Series)) {
			ex.FirstLabels = r.LabelMap(int(d.First.Series))
		}
	}
	refs := []SampleRef{d.First, d.Sample}
	if d.Kind == AcrossRequests {
		// The first value was forwarded in an earlier request: show what
		// the record kept of it.
		refs = refs[1:]
		if d.RecordedHistogram {
			ex.Histograms = append(ex.Histograms, fmt.Sprintf("<histogram forwarded earlier, encoding hash %016x>", d.RecordedValue))
		} else {
			ex.Values = append(ex.Values, report.Value(math.Float64frombits(d.RecordedValue)))
		}
	}
	for _, ref := range refs {
		if ref.Histogram {
			ex.Histograms = append(ex.Histograms, HistogramString(r, r.Histograms[ref.Index]))
		} else {
			ex.Values = append(ex.Values, report.Value(r.Samples[ref.Index].Value))
		}
	}
	return ex
}
