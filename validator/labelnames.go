package validator

import "strings"

// LabelNames is a list of label names set from a comma-separated string,
// by flag or YAML, as written for people, "job, team": the spaces around
// each name, which no series' label name has, and empty entries are left
// out.
type LabelNames []string

// String implements flag.Value.
func (l LabelNames) String() string { return strings.Join(l, ",") }

// Set implements flag.Value.
func (l *LabelNames) Set(s string) error {
	*l = nil
	for n := range strings.SplitSeq(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			*l = append(*l, n)
		}
	}
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (l *LabelNames) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	return l.Set(s)
}

// MarshalYAML implements yaml.Marshaler.
func (l LabelNames) MarshalYAML() (any, error) { return l.String(), nil }
