package httpapi

import (
	"maps"
	"strings"

	"github.com/pushguard/pushguard/validator/report"
)

// Hint is the report's short guess at why an offender sends duplicates and
// what to change.
type Hint struct {
	Cause string
	Fix   string
}

// hintFor picks the hint that fits the offender best: the kind decides,
// the origin and the example refine it.
func hintFor(o report.Offender) []Hint {
	var hints []Hint
	job := strings.ToLower(o.Origin["job"] + " " + o.Example.Labels["job"])
	rule := o.Source == "RULE" || strings.Contains(o.Metric, ":")
	differ := o.Example.FirstLabels != nil && !maps.Equal(o.Example.FirstLabels, o.Example.Labels)
	switch o.Kind {
	case "across_series":
		switch {
		case differ:
			// The series are not identical: the hint below says why they
			// count as one.
		case rule:
			hints = append(hints, Hint{
				Cause: "Two series with identical labels in one request from a ruler: two recording rules (or two rule groups) write the same output series.",
				Fix:   "Find the rules with this record name and make their outputs differ (aggregate by a further label) or delete one of them.",
			})
		case strings.Contains(job, "kube-state-metrics"):
			hints = append(hints, Hint{
				Cause: "Two series with identical labels in one request from kube-state-metrics: it reports two objects (a retried Job, a toleration listed twice, HPA metric targets) without the label that tells them apart.",
				Fix:   "Upgrade kube-state-metrics or fix the object's spec; meanwhile keep-first (Mimir's own choice) or label keeps the data flowing.",
			})
		default:
			hints = append(hints, Hint{
				Cause: "Two series with identical labels in one request: a distinguishing label is missing or was dropped by relabelling, or the exporter exposes one series twice with explicit timestamps (cAdvisor's leftover cgroups; Prometheus sends each sample in an entry of its own, so such repeats show here).",
				Fix:   "Compare the two series below. Look for a labeldrop/labelkeep or a metric_relabel_configs rule removing pod, instance or replica on this job, and keep the label that tells the targets apart; for an exporter with explicit timestamps, fix it or scrape it with honor_timestamps: false.",
			})
		}
	case "within_series":
		hints = append(hints, Hint{
			Cause: "One series repeats a timestamp inside a single TimeSeries entry: the sender puts a series' samples in one entry (an OpenTelemetry exporter, a custom client; Prometheus does not) and what it scraped exposes the same series twice with explicit timestamps.",
			Fix:   "Fix the exporter, or scrape it with honor_timestamps: false so that Prometheus stamps each scrape once.",
		})
	case "across_requests":
		switch {
		case rule:
			hints = append(hints, Hint{
				Cause: "A rule's output for a timestamp already sent in an earlier push came again: the ruler retried a push after a timeout or an error, or two rules (or rule groups) write this series.",
				Fix:   "With the same value it is a retry and nothing is lost. With a new value, find the rules with this record name and make their outputs differ or delete one of them.",
			})
		case o.ConflictingSamples == 0:
			hints = append(hints, Hint{
				Cause: "A timestamp already sent in an earlier push came again with the same value: a sender retried a push the upstream had taken (after a timeout, or a batch split and resent), or two senders send the same data.",
				Fix:   "If it persists, check the sender's timeouts against the upstream's latency, and that only one sender (or one HA replica, behind Mimir's HA tracker) writes this series.",
			})
		default:
			hints = append(hints, Hint{
				Cause: "A timestamp already sent in an earlier push came again with a new value: more than one sender writes this series (an HA pair without Mimir's HA tracker, clustered Alloy, load-balanced OpenTelemetry collectors).",
				Fix:   "Give each sender a distinguishing external label, or enable Mimir's HA tracker with cluster/__replica__ labels.",
			})
		}
	}
	if differ {
		hints = append(hints, Hint{
			Cause: "The two series differ only in labels Mimir does not count as identity (empty values, or labels listed in -validator.ignore-labels), highlighted below.",
			Fix:   "Either keep those labels upstream (remove them from drop_labels) or make the sender stop emitting both series.",
		})
	}
	if o.ConflictingSamples == 0 && o.IdenticalSamples > 0 {
		hints = append(hints, Hint{
			Cause: "Every repeat carries the first sample's value: Mimir drops them silently and nothing is lost.",
			Fix:   "Low priority: the sender does redundant work, fix it when convenient.",
		})
	}
	return hints
}
