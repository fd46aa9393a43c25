package httpapi

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/validator/report"
)

// TestHintsDoNotContradictTheOffender: each hint fits what the offender
// shows, and no two say opposite things.
func TestHintsDoNotContradictTheOffender(t *testing.T) {
	text := func(o report.Offender) string {
		var b strings.Builder
		for _, h := range hintFor(o) {
			b.WriteString(h.Cause + " " + h.Fix + "\n")
		}
		return b.String()
	}
	repeat := report.Offender{Kind: "across_requests", Metric: "up", IdenticalSamples: 2}
	got := text(repeat)
	require.NotContains(t, got, "new value", "every repeat carried the first value")
	require.Contains(t, got, "same value")

	conflict := report.Offender{Kind: "across_requests", Metric: "up", ConflictingSamples: 1}
	require.Contains(t, text(conflict), "new value")
	require.Contains(t, text(conflict), "HA tracker")

	rule := report.Offender{Kind: "across_requests", Metric: "ns:up:sum", IdenticalSamples: 1}
	got = text(rule)
	require.Contains(t, got, "ruler retried")
	require.NotContains(t, got, "HA pair", "a recording rule's output comes from the ruler")

	ignored := report.Offender{Kind: "across_series", Metric: "up", ConflictingSamples: 1, Example: report.Example{
		Labels:      map[string]string{"__name__": "up", "__replica__": "b"},
		FirstLabels: map[string]string{"__name__": "up", "__replica__": "a"},
	}}
	got = text(ignored)
	require.NotContains(t, got, "identical labels", "the series differ, in labels left out of identity")
	require.Contains(t, got, "-validator.ignore-labels")

	same := report.Offender{Kind: "across_series", Metric: "up", ConflictingSamples: 1, Example: report.Example{
		Labels: map[string]string{"__name__": "up"}, FirstLabels: map[string]string{"__name__": "up"},
	}}
	require.Contains(t, text(same), "identical labels")
}
