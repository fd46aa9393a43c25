package validator

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Offender is one source of duplicate samples: a (tenant, metric, kind,
// origin label values) key and what was seen of it.
type Offender struct {
	// ID names the offender in links to its detail view; stable for as long
	// as the offender is kept.
	ID                 string            `json:"id,omitempty"`
	Tenant             string            `json:"tenant"`
	Metric             string            `json:"metric"`
	Kind               string            `json:"kind"`
	Origin             map[string]string `json:"origin"`
	ConflictingSamples int64             `json:"conflicting_samples"`
	IdenticalSamples   int64             `json:"identical_samples"`
	FirstSeen          time.Time         `json:"first_seen"`
	LastSeen           time.Time         `json:"last_seen"`
	Action             string            `json:"action"`
	// RequestedAction is the action the rules chose when it could not
	// apply and keep-first was applied instead.
	RequestedAction   string `json:"requested_action,omitempty"`
	DroppedSamples    int64  `json:"dropped_samples"`
	ChangedSamples    int64  `json:"changed_samples"`
	RelabelledSamples int64  `json:"relabelled_samples"`
	UserAgent         string `json:"user_agent"`
	// SenderAddress is the address the latest offending push came from:
	// the peer, or the X-Forwarded-For client when the peer is a trusted
	// proxy.
	SenderAddress string `json:"sender_address,omitempty"`
	// Source is the Mimir/Cortex WriteRequest source when the client set it
	// to something other than the default API: RULE (a ruler) or OTLP.
	Source  string  `json:"source,omitempty"`
	Example Example `json:"example"`
	// PerMinute counts the offender's duplicate samples in each of the last
	// 60 minutes, oldest first, ending with the minute the report was read.
	PerMinute []uint32 `json:"per_minute,omitempty"`
}

// Example is one concrete duplicate of an offender: the repeating sample's
// series, its timestamp, and the values of the first and repeating samples.
type Example struct {
	Labels      map[string]string `json:"labels"`
	FirstLabels map[string]string `json:"first_labels,omitempty"`
	TimestampMs int64             `json:"timestamp_ms"`
	Values      []Value           `json:"values"`
	Histograms  []string          `json:"histograms,omitempty"`
}

// Value is a float that also survives JSON when it is NaN or infinite:
// those are written as the strings Prometheus uses ("NaN", "+Inf", "-Inf").
type Value float64

// MarshalJSON implements json.Marshaler.
func (v Value) MarshalJSON() ([]byte, error) {
	f := float64(v)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *Value) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		f, err := strconv.ParseFloat(s, 64)
		*v = Value(f)
		return err
	}
	var f float64
	err := json.Unmarshal(b, &f)
	*v = Value(f)
	return err
}

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
func Offenders(r *Request, res *Result, outcomes []Outcome, originLabels []string, meta Meta) []*Offender {
	if len(res.Duplicates) == 0 {
		return nil
	}
	byKey := make(map[string]*Offender)
	var order []*Offender
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
		o, ok := byKey[string(key)]
		if !ok {
			o = &Offender{
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
				Example:       exampleOf(r, d),
			}
			byKey[string(key)] = o
			order = append(order, o)
		}
		if d.Conflicting {
			// Show the operator a conflict rather than an identical repeat.
			if o.ConflictingSamples == 0 && ok {
				o.Example = exampleOf(r, d)
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
	return order
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

func originOf(r *Request, si int, originLabels []string) map[string]string {
	origin := make(map[string]string, len(originLabels))
	for _, l := range r.SeriesLabels(si) {
		if l.Value.Len() == 0 {
			continue
		}
		name := r.Bytes(l.Name)
		for _, want := range originLabels {
			if want == string(name) {
				origin[want] = r.String(l.Value)
				break
			}
		}
	}
	return origin
}

func exampleOf(r *Request, d *Duplicate) Example {
	ex := Example{
		Labels:      r.LabelMap(int(d.Sample.Series)),
		TimestampMs: d.TimestampMs,
	}
	if d.First.Series != d.Sample.Series {
		ex.FirstLabels = r.LabelMap(int(d.First.Series))
	}
	refs := []SampleRef{d.First, d.Sample}
	if d.Kind == AcrossRequests {
		// The first value was forwarded in an earlier request: show what
		// the record kept of it.
		refs = refs[1:]
		if d.RecordedHistogram {
			ex.Histograms = append(ex.Histograms, fmt.Sprintf("<histogram forwarded earlier, encoding hash %016x>", d.RecordedValue))
		} else {
			ex.Values = append(ex.Values, Value(math.Float64frombits(d.RecordedValue)))
		}
	}
	for _, ref := range refs {
		if ref.Histogram {
			ex.Histograms = append(ex.Histograms, HistogramString(r, r.Histograms[ref.Index]))
		} else {
			ex.Values = append(ex.Values, Value(r.Samples[ref.Index].Value))
		}
	}
	return ex
}
