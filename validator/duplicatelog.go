package validator

import (
	"cmp"
	"slices"
	"strings"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/time/rate"
)

// maxLoggedMetrics caps the metric names named in one warning.
const maxLoggedMetrics = 5

// maxDebugSamplesPerRequest caps the per-sample debug lines of one request.
const maxDebugSamplesPerRequest = 100

// duplicateLog writes one aggregated warning per request and kind, never a
// line per sample at warn (as Thanos' receiver does), and rate limits those
// warnings so that a storm of duplicates cannot flood the logs: the report
// and the metrics carry the full counts.
type duplicateLog struct {
	logger  log.Logger
	debug   bool
	limiter *rate.Limiter

	suppressed prometheus.Counter
}

func newDuplicateLog(logger log.Logger, perSecond float64, debug bool, reg prometheus.Registerer) *duplicateLog {
	return &duplicateLog{
		logger:  logger,
		debug:   debug,
		limiter: newWarnLimiter(perSecond),
		suppressed: promauto.With(reg).NewCounter(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "duplicate_warnings_suppressed_total",
			Help:      "Aggregated duplicate-sample warnings not logged because of -validator.warn-log-rate.",
		}),
	}
}

type kindSummary struct {
	conflicting, identical int
}

// log writes the warnings of one request's duplicates. The metric names of
// a kind are counted only for a warning the rate limit lets through.
func (l *duplicateLog) log(r *Request, res *Result, outcomes []Outcome, meta Meta) {
	var byKind [len(kindNames)]kindSummary
	for k := range res.Duplicates {
		d := &res.Duplicates[k]
		if int(d.Kind) >= len(byKind) {
			continue
		}
		s := &byKind[d.Kind]
		if d.Conflicting {
			s.conflicting++
		} else {
			s.identical++
		}
		if l.debug && k < maxDebugSamplesPerRequest {
			action := ActionReport
			if k < len(outcomes) {
				action = outcomes[k].Action
			}
			level.Debug(l.logger).Log("msg", "duplicate sample", "tenant", meta.Tenant, "kind", d.Kind,
				"conflicting", d.Conflicting, "series", labelString(r, int(d.Sample.Series)),
				"first_series", labelString(r, int(d.First.Series)), "timestamp_ms", d.TimestampMs, "action", action)
		}
	}
	for kind, s := range byKind {
		if s.conflicting+s.identical == 0 {
			continue
		}
		if !l.limiter.Allow() {
			l.suppressed.Inc()
			continue
		}
		metrics := map[string]int{}
		for k := range res.Duplicates {
			if d := &res.Duplicates[k]; int(d.Kind) == kind {
				metrics[string(r.MetricName(int(d.Sample.Series)))]++
			}
		}
		level.Warn(l.logger).Log("msg", "duplicate samples in push", "tenant", meta.Tenant, "kind", Kind(kind),
			"conflicting", s.conflicting, "identical", s.identical, "metrics", topMetrics(metrics),
			"user_agent", meta.UserAgent, "sender", meta.RemoteAddr)
	}
}

// topMetrics names the metrics with the most duplicates, most first.
func topMetrics(counts map[string]int) string {
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b)) })
	more := len(names) - maxLoggedMetrics
	if more > 0 {
		names = names[:maxLoggedMetrics]
	}
	s := strings.Join(names, ",")
	if more > 0 {
		s += ",..."
	}
	return s
}

// labelString renders series si the way Prometheus prints a series.
func labelString(r *Request, si int) string {
	var b strings.Builder
	b.WriteByte('{')
	for k, lb := range r.SeriesLabels(si) {
		if k > 0 {
			b.WriteString(", ")
		}
		b.Write(r.Bytes(lb.Name))
		b.WriteString("=\"")
		b.WriteString(strings.ReplaceAll(r.String(lb.Value), `"`, `\"`))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
