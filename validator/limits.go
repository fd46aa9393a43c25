package validator

import (
	"flag"
	"fmt"
	"unicode/utf8"

	"github.com/pushguard/pushguard/validator/report"
)

// Limits bound what one push may cost pushguard itself. They protect the
// process, not the upstream: the upstream applies its own per-series
// validation, and refusing a whole request here for what the upstream
// refuses per series would make the sender drop the whole batch. The
// defaults are therefore far above Mimir's per-series limits.
type Limits struct {
	MaxSeriesPerRequest     int  `yaml:"max_series_per_request"`
	MaxLabelNamesPerSeries  int  `yaml:"max_label_names_per_series"`
	MaxLabelNameLength      int  `yaml:"max_label_name_length"`
	MaxLabelValueLength     int  `yaml:"max_label_value_length"`
	MaxInflightPushRequests int  `yaml:"max_inflight_push_requests"`
	FailOpen                bool `yaml:"fail_open"`
}

// RegisterFlags registers the limits under the validator prefix.
func (l *Limits) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&l.MaxSeriesPerRequest, "validator.max-series-per-request", 1_000_000, "Maximum TimeSeries entries in one push; a push with more is refused with 413 while it is decoded. 0 means no limit.")
	f.IntVar(&l.MaxLabelNamesPerSeries, "validator.max-label-names-per-series", 1000, "Maximum labels of one series; a push with a series over it is refused with 400. Far above Mimir's per-series limit on purpose: the upstream refuses such a series alone. 0 means no limit.")
	f.IntVar(&l.MaxLabelNameLength, "validator.max-label-name-length", 1024, "Label names longer than this many bytes are truncated in the report. Pushes are never refused for it. 0 means no limit.")
	f.IntVar(&l.MaxLabelValueLength, "validator.max-label-value-length", 2048, "Label values longer than this many bytes are truncated in the report. Pushes are never refused for it. 0 means no limit.")
	f.IntVar(&l.MaxInflightPushRequests, "validator.max-inflight-push-requests", 2000, "Maximum pushes handled at once over HTTP and gRPC together; more are answered 503 (gRPC Unavailable) with Retry-After, which senders retry (Prometheus drops a batch answered 429 unless retry_on_http_429 is set). 0 means no limit.")
	f.BoolVar(&l.FailOpen, "validator.fail-open", true, "When inspecting or patching a push fails inside pushguard (a bug, never bad input), forward the original bytes and count pushguard_inspection_failures_total. When false such a push is answered 500 so that the sender retries, unless its tenant only reports: that push is already on its way upstream.")
}

// Validate checks the limits.
func (l *Limits) Validate() error {
	for name, v := range map[string]int{
		"validator.max-series-per-request":     l.MaxSeriesPerRequest,
		"validator.max-label-names-per-series": l.MaxLabelNamesPerSeries,
		"validator.max-label-name-length":      l.MaxLabelNameLength,
		"validator.max-label-value-length":     l.MaxLabelValueLength,
		"validator.max-inflight-push-requests": l.MaxInflightPushRequests,
	} {
		if v < 0 {
			return fmt.Errorf("-%s must not be negative", name)
		}
	}
	return nil
}

// decodeLimits are the limits a decoder checks as it goes, so that an
// oversized request is refused before it is all decoded. Zero means none.
type decodeLimits struct {
	maxSeries, maxLabelsPerSeries int
}

// SetLimits makes the decoders refuse r once it has more than maxSeries
// TimeSeries entries or a series with more than maxLabelsPerSeries labels.
// Zero means no limit. The limits stay with r until changed.
func (r *Request) SetLimits(maxSeries, maxLabelsPerSeries int) {
	r.limits = decodeLimits{maxSeries: maxSeries, maxLabelsPerSeries: maxLabelsPerSeries}
}

// checkSeriesLimit is called before a series is added.
func (r *Request) checkSeriesLimit() error {
	if r.limits.maxSeries > 0 && len(r.Series) >= r.limits.maxSeries {
		return NewError(ErrIDMaxSeriesPerRequest, CauseTooLarge, nil,
			"request has more than %d series, the limit per request", r.limits.maxSeries)
	}
	return nil
}

// checkLabelsLimit is called as labels of the series being decoded, which
// started at labelsStart, are added.
func (r *Request) checkLabelsLimit(labelsStart int32) error {
	if r.overLabelsLimit(labelsStart) {
		return r.labelsLimitError()
	}
	return nil
}

// overLabelsLimit is checkLabelsLimit's test, small enough to be inlined
// where it is made for every label.
func (r *Request) overLabelsLimit(labelsStart int32) bool {
	max := r.limits.maxLabelsPerSeries
	return max > 0 && len(r.Labels)-int(labelsStart) > max
}

// labelsLimitError is checkLabelsLimit's error.
func (r *Request) labelsLimitError() error {
	return NewError(ErrIDMaxLabelNamesPerSeries, CauseBadData, nil,
		"series %d has more than %d labels, the limit per series", len(r.Series), r.limits.maxLabelsPerSeries)
}

// truncationMark ends a label name or value cut short in a report.
const truncationMark = "…"

// truncate cuts s to at most max bytes at a rune boundary and marks the cut,
// so that reports stay bounded whatever a sender sends.
func truncate(s string, max int) string {
	if max <= 0 || len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncationMark
}

// truncateLabels returns m with the label length limits applied; m itself
// is returned when nothing is over them.
func (l *Limits) truncateLabels(m map[string]string) map[string]string {
	over := false
	for name, value := range m {
		if truncate(name, l.MaxLabelNameLength) != name || truncate(value, l.MaxLabelValueLength) != value {
			over = true
			break
		}
	}
	if !over {
		return m
	}
	out := make(map[string]string, len(m))
	for name, value := range m {
		out[truncate(name, l.MaxLabelNameLength)] = truncate(value, l.MaxLabelValueLength)
	}
	return out
}

func (l *Limits) truncateExample(ex *report.Example) {
	ex.Labels = l.truncateLabels(ex.Labels)
	ex.FirstLabels = l.truncateLabels(ex.FirstLabels)
}
