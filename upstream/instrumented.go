package upstream

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Instrumented wraps an Upstream with request and latency metrics.
type Instrumented struct {
	next Upstream
	name string
	m    *instrumentMetrics
}

type instrumentMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewInstrumented wraps next; name is the "upstream" label value.
func NewInstrumented(next Upstream, name string, reg prometheus.Registerer) *Instrumented {
	return newInstrumentMetrics(reg).wrap(next, name)
}

func newInstrumentMetrics(reg prometheus.Registerer) *instrumentMetrics {
	return &instrumentMetrics{
		requests: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "forwarded_requests_total",
			Help:      "Pushes forwarded upstream, by upstream and the status code it answered (\"error\" when it did not answer).",
		}, []string{"upstream", "status_code"}),
		duration: promauto.With(reg).NewHistogramVec(prometheus.HistogramOpts{
			Namespace:                       "pushguard",
			Name:                            "forward_duration_seconds",
			Help:                            "Time the upstream took to answer a forwarded push.",
			Buckets:                         prometheus.DefBuckets,
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  100,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{"upstream"}),
	}
}

// wrap returns next instrumented under name; several upstreams share the
// metrics.
func (m *instrumentMetrics) wrap(next Upstream, name string) *Instrumented {
	return &Instrumented{next: next, name: name, m: m}
}

// Push implements Upstream.
func (u *Instrumented) Push(ctx context.Context, req *Request) (*Response, error) {
	start := time.Now()
	resp, err := u.next.Push(ctx, req)
	u.m.duration.WithLabelValues(u.name).Observe(time.Since(start).Seconds())
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	u.m.requests.WithLabelValues(u.name, code).Inc()
	return resp, err
}
