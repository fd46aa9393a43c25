package report

import (
	"encoding/json"
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

// TakeAction notes the action applied to another of the offender's
// groups, of the same push or a later one: a fallback (requested set)
// stays said while later groups take the action it could not; an action
// the rules changed to replaces it.
func (o *Offender) TakeAction(action, requested string) {
	if requested != "" || action != o.RequestedAction {
		o.Action, o.RequestedAction = action, requested
	}
}

// Example is one concrete duplicate of an offender: the repeating sample's
// series, its timestamp, and the values of the first and repeating samples.
type Example struct {
	Labels      map[string]string `json:"labels"`
	FirstLabels map[string]string `json:"first_labels,omitempty"`
	TimestampMs int64             `json:"timestamp_ms"`
	Values      []Value           `json:"values"`
	Histograms  []string          `json:"histograms,omitempty"`
	// Samples are the first and the repeating sample, in that order, as
	// the report shows them: a float's value (a stale marker named so), a
	// native histogram's summary. Values and Histograms hold the same
	// samples by type, and cannot say which came first when their types
	// differ.
	Samples []string `json:"samples"`
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
