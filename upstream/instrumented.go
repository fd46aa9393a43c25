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
	next     Upstream
	name     string
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewInstrumented wraps next; name is the "upstream" label value.
func NewInstrumented(next Upstream, name string, reg prometheus.Registerer) *Instrumented {
	return &Instrumented{
		next: next,
		name: name,
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

// Push implements Upstream.
func (u *Instrumented) Push(ctx context.Context, req *Request) (*Response, error) {
	start := time.Now()
	resp, err := u.next.Push(ctx, req)
	u.duration.WithLabelValues(u.name).Observe(time.Since(start).Seconds())
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	u.requests.WithLabelValues(u.name, code).Inc()
	return resp, err
}
