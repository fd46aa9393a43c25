package validator

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
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
	// dryRun marks a request inspected for ValidatorService/Validate: its
	// lookups in the cross-request record are not counted as a push's.
	dryRun bool
}

// sourceNames are the Mimir/Cortex WriteRequest sources worth reporting.
// API (0) is the default and cannot be told apart from an unset field.
var sourceNames = map[int32]string{1: "RULE", 2: "OTLP"}

// Offenders turns one request's duplicates into offender records, one per
// (metric, kind, origin), with lim's label limits applied to what they
// show. outcomes may be nil when no action was planned.
func Offenders(r *Request, res *Result, outcomes []Outcome, originLabels []string, meta Meta, lim *Limits) []*report.Offender {
	order, lazy := offenders(r, res, outcomes, originLabels, meta, lim)
	for i, o := range order {
		lazy.Complete(i, o)
		o.Example = lazy.Example(i)
	}
	return order
}

// offenders is Offenders with each offender's metric, origin and example
// left for lazy to build: label maps are most of an offender's cost, and
// the report needs them only for an offender it did not know. lazy.Keys
// are built from the request's bytes, so that a known offender costs a
// lookup. An offender's example shows its first conflicting duplicate, or
// its first duplicate when none conflicts.
func offenders(r *Request, res *Result, outcomes []Outcome, originLabels []string, meta Meta, lim *Limits) (order []*report.Offender, lazy report.Lazy) {
	if len(res.Duplicates) == 0 {
		return nil, report.Lazy{}
	}
	names := originKeyNames(originLabels, lim)
	byKey := make(map[string]int)
	var (
		// Per offender: its first duplicate, whose series gives its metric
		// and origin, and the duplicate its example shows.
		firstDup, exampleDup []int
		key                  []byte
		values               []Span
	)
	for k := range res.Duplicates {
		d := &res.Duplicates[k]
		si := int(d.Sample.Series)
		kind := d.Kind.String()
		key = report.AppendKeyHead(key[:0], limitBytes(r.MetricName(si), lim.MaxLabelValueLength), kind)
		values = originValues(r, si, names, values)
		for j, v := range values {
			if v.Len() > 0 {
				key = report.AppendKeyOrigin(key, names[j].key, limitBytes(r.Bytes(v), lim.MaxLabelValueLength))
			}
		}
		i, ok := byKey[string(key)]
		if !ok {
			i = len(order)
			ks := string(key)
			byKey[ks] = i
			lazy.Keys = append(lazy.Keys, ks)
			order = append(order, &report.Offender{
				Tenant:        meta.Tenant,
				Kind:          kind,
				FirstSeen:     meta.Time,
				LastSeen:      meta.Time,
				Action:        string(ActionReport),
				UserAgent:     meta.UserAgent,
				SenderAddress: meta.RemoteAddr,
				Source:        sourceNames[r.Source],
			})
			firstDup = append(firstDup, k)
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
			o.TakeAction(string(oc.Action), string(oc.Requested))
			o.DroppedSamples += int64(oc.Dropped)
			o.ChangedSamples += int64(oc.Changed)
			o.RelabelledSamples += int64(oc.Relabelled)
		}
	}
	lazy.Complete = func(i int, o *report.Offender) {
		si := int(res.Duplicates[firstDup[i]].Sample.Series)
		o.Metric = truncate(string(r.MetricName(si)), lim.MaxLabelValueLength)
		var valueArr [16]Span
		o.Origin = originOf(r, originValues(r, si, names, valueArr[:0]), names, lim)
	}
	lazy.Example = func(i int) report.Example {
		ex := exampleOf(r, &res.Duplicates[exampleDup[i]])
		lim.truncateExample(&ex)
		return ex
	}
	return order, lazy
}

// originKeyName is an origin label as it is matched in a series (name) and
// shown in the report (key, within the label name limit).
type originKeyName struct{ name, key string }

// originKeyNames returns the origin labels in the order of the names the
// report shows, each once.
func originKeyNames(originLabels []string, lim *Limits) []originKeyName {
	names := make([]originKeyName, 0, len(originLabels))
	for _, n := range originLabels {
		k := truncate(n, lim.MaxLabelNameLength)
		if !slices.ContainsFunc(names, func(o originKeyName) bool { return o.key == k }) {
			names = append(names, originKeyName{name: n, key: k})
		}
	}
	slices.SortFunc(names, func(a, b originKeyName) int { return strings.Compare(a.key, b.key) })
	return names
}

// originValues returns where the value of each of names is in series si,
// an empty span where the series has none (or an empty one). A label
// repeated in the series counts with its last value.
func originValues(r *Request, si int, names []originKeyName, dst []Span) []Span {
	dst = slices.Grow(dst[:0], len(names))[:len(names)]
	clear(dst)
	for _, l := range r.SeriesLabels(si) {
		if l.Value.Len() == 0 {
			continue
		}
		name := r.Bytes(l.Name)
		for j := range names {
			if names[j].name == string(name) {
				dst[j] = l.Value
				break // names holds each name once
			}
		}
	}
	return dst
}

// limitBytes is truncate for bytes that are nearly always within max.
func limitBytes(b []byte, max int) []byte {
	if max <= 0 || len(b) <= max {
		return b
	}
	return []byte(truncate(string(b), max))
}

// originOf returns the origin labels as the report shows them, from
// their values in the request (see originValues) and within lim's limits.
func originOf(r *Request, values []Span, names []originKeyName, lim *Limits) map[string]string {
	var spanArr [16]Span
	var keyArr [16]string
	spans, keys := spanArr[:0], keyArr[:0]
	for j, v := range values {
		if v.Len() > 0 {
			spans, keys = append(spans, v), append(keys, names[j].key)
		}
	}
	var strArr [16]string
	strs := r.sharedStrings(strArr[:0], spans)
	origin := make(map[string]string, len(strs))
	for j, v := range strs {
		origin[keys[j]] = truncate(v, lim.MaxLabelValueLength)
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
		// A list even when every value is a histogram's: readers of the
		// JSON take its length.
		Values: []report.Value{},
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
			h := fmt.Sprintf("<histogram forwarded earlier, encoding hash %016x>", d.RecordedValue)
			ex.Histograms = append(ex.Histograms, h)
			ex.Samples = append(ex.Samples, h)
		} else {
			v := math.Float64frombits(d.RecordedValue)
			ex.Values = append(ex.Values, report.Value(v))
			ex.Samples = append(ex.Samples, FormatValue(v))
		}
	}
	for _, ref := range refs {
		if ref.Histogram {
			h := HistogramString(r, r.Histograms[ref.Index])
			ex.Histograms = append(ex.Histograms, h)
			ex.Samples = append(ex.Samples, h)
		} else {
			v := r.Samples[ref.Index].Value
			ex.Values = append(ex.Values, report.Value(v))
			ex.Samples = append(ex.Samples, FormatValue(v))
		}
	}
	return ex
}
