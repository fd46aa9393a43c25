package validator

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Admission decides whether a push may start, for HTTP and gRPC alike: it
// bounds the pushes in flight, so that a burst cannot exhaust memory, and
// refuses new pushes once shutdown has begun. Both refusals are retryable:
// the sender comes back later or to another replica.
type Admission struct {
	max      int64
	inflight atomic.Int64
	draining atomic.Bool
	gauge    prometheus.Gauge
	refused  *prometheus.CounterVec
}

// NewAdmission returns an Admission letting at most maxInflight pushes run
// at once; 0 means no limit.
func NewAdmission(maxInflight int, reg prometheus.Registerer) *Admission {
	a := &Admission{max: int64(maxInflight)}
	a.gauge = promauto.With(reg).NewGauge(prometheus.GaugeOpts{
		Namespace: "pushguard",
		Name:      "inflight_push_requests",
		Help:      "Pushes being handled right now, over HTTP and gRPC.",
	})
	a.refused = promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
		Namespace: "pushguard",
		Name:      "throttled_push_requests_total",
		Help:      "Pushes refused with a retryable answer before being read, by reason: too many in flight, or shutting down.",
	}, []string{"reason"})
	return a
}

// Admit reserves a place for one push. On success the caller must call
// Done when the push is answered; otherwise the error says why (its cause
// is CauseUnavailable: a 503, which senders retry, where Prometheus drops
// a batch answered 429 unless told to retry it, as Mimir answers its own
// instance limits).
func (a *Admission) Admit() error {
	if a.draining.Load() {
		a.refused.WithLabelValues(string(ErrIDShuttingDown)).Inc()
		return NewError(ErrIDShuttingDown, CauseUnavailable, nil, "pushguard is shutting down, retry on another replica")
	}
	n := a.inflight.Add(1)
	if a.max > 0 && n > a.max {
		a.inflight.Add(-1)
		a.refused.WithLabelValues(string(ErrIDTooManyInflightPushes)).Inc()
		return NewError(ErrIDTooManyInflightPushes, CauseUnavailable, nil,
			"too many pushes in flight, the limit is %d", a.max)
	}
	a.gauge.Inc()
	return nil
}

// Done releases the place Admit reserved.
func (a *Admission) Done() {
	a.inflight.Add(-1)
	a.gauge.Dec()
}

// Inflight returns the number of pushes admitted and not done yet.
func (a *Admission) Inflight() int64 { return a.inflight.Load() }

// Drain makes every later Admit fail with a retryable error; pushes
// already admitted go on. It is called when shutdown begins.
func (a *Admission) Drain() { a.draining.Store(true) }

// Draining reports whether Drain was called.
func (a *Admission) Draining() bool { return a.draining.Load() }
