package grpcapi

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	pushguardv1 "github.com/pushguard/pushguard/proto/pushguard/v1"
	"github.com/pushguard/pushguard/validator"
	"github.com/pushguard/pushguard/validator/report"
)

// offenderProto converts an offender to its message, field for field with
// the HTTP report's JSON.
func offenderProto(o *report.Offender) *pushguardv1.Offender {
	values := make([]float64, len(o.Example.Values))
	for i, v := range o.Example.Values {
		values[i] = float64(v)
	}
	return &pushguardv1.Offender{
		Tenant:             o.Tenant,
		Metric:             o.Metric,
		Kind:               o.Kind,
		Origin:             o.Origin,
		ConflictingSamples: o.ConflictingSamples,
		IdenticalSamples:   o.IdenticalSamples,
		FirstSeen:          timestamppb.New(o.FirstSeen),
		LastSeen:           timestamppb.New(o.LastSeen),
		Action:             o.Action,
		DroppedSamples:     o.DroppedSamples,
		UserAgent:          o.UserAgent,
		Id:                 o.ID,
		RequestedAction:    o.RequestedAction,
		ChangedSamples:     o.ChangedSamples,
		RelabelledSamples:  o.RelabelledSamples,
		SenderAddress:      o.SenderAddress,
		Source:             o.Source,
		PerMinute:          o.PerMinute,
		Example: &pushguardv1.Example{
			Labels:      o.Example.Labels,
			FirstLabels: o.Example.FirstLabels,
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
