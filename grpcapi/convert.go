package grpcapi

import (
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	pushguardv1 "github.com/pushguard/pushguard/proto/pushguard/v1"
	"github.com/pushguard/pushguard/validator"
	"github.com/pushguard/pushguard/validator/report"
)

// offenderProto converts an offender to its message, field for field with
// the HTTP report's JSON. What a sender wrote (label values, metric name,
// User-Agent, forwarded address) need not be UTF-8, which a protobuf string
// must be: each byte that is not is written U+FFFD, as encoding/json writes
// it in the JSON report.
func offenderProto(o *report.Offender) *pushguardv1.Offender {
	values := make([]float64, len(o.Example.Values))
	for i, v := range o.Example.Values {
		values[i] = float64(v)
	}
	return &pushguardv1.Offender{
		Tenant:             validUTF8(o.Tenant),
		Metric:             validUTF8(o.Metric),
		Kind:               o.Kind,
		Origin:             validUTF8Map(o.Origin),
		ConflictingSamples: o.ConflictingSamples,
		IdenticalSamples:   o.IdenticalSamples,
		FirstSeen:          timestamppb.New(o.FirstSeen),
		LastSeen:           timestamppb.New(o.LastSeen),
		Action:             o.Action,
		DroppedSamples:     o.DroppedSamples,
		UserAgent:          validUTF8(o.UserAgent),
		Id:                 o.ID,
		RequestedAction:    o.RequestedAction,
		ChangedSamples:     o.ChangedSamples,
		RelabelledSamples:  o.RelabelledSamples,
		SenderAddress:      validUTF8(o.SenderAddress),
		Source:             o.Source,
		PerMinute:          o.PerMinute,
		Example: &pushguardv1.Example{
			Labels:      validUTF8Map(o.Example.Labels),
			FirstLabels: validUTF8Map(o.Example.FirstLabels),
			TimestampMs: o.Example.TimestampMs,
			Values:      values,
			Histograms:  o.Example.Histograms,
			Samples:     o.Example.Samples,
		},
	}
}

// countsOf sums up a checked request.
func countsOf(c *validator.Checked) *pushguardv1.Counts {
	r := c.Request
	out := &pushguardv1.Counts{
		Series:         int64(len(r.Series)),
		Samples:        int64(len(r.Samples)),
		Histograms:     int64(len(r.Histograms)),
		WithinSeries:   &pushguardv1.DuplicateCounts{},
		AcrossSeries:   &pushguardv1.DuplicateCounts{},
		AcrossRequests: &pushguardv1.DuplicateCounts{},
		Dropped:        int64(c.Patch.Dropped),
	}
	for _, d := range c.Result.Duplicates {
		var dc *pushguardv1.DuplicateCounts
		switch d.Kind {
		case validator.WithinSeries:
			dc = out.WithinSeries
		case validator.AcrossSeries:
			dc = out.AcrossSeries
		case validator.AcrossRequests:
			dc = out.AcrossRequests
		default:
			continue
		}
		if d.Conflicting {
			dc.Conflicting++
		} else {
			dc.Identical++
		}
	}
	return out
}

// validUTF8 is s with every byte that is not part of a UTF-8 sequence
// replaced by U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// validUTF8Map is m with validUTF8 keys and values; m itself when they
// all are.
func validUTF8Map(m map[string]string) map[string]string {
	for k, v := range m {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			out := make(map[string]string, len(m))
			for name, value := range m {
				out[validUTF8(name)] = validUTF8(value)
			}
			return out
		}
	}
	return m
}
