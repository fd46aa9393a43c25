package validator

import (
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/time/rate"
)

// refusalLog writes a warning for each push pushguard refuses, naming the
// sender and the reason, as Mimir logs the pushes it refuses: the sender's
// own log is where the refusal is seen otherwise, and the operator may not
// read it. The warnings share -validator.warn-log-rate's rate, with a
// limiter of their own, so that neither a storm of refusals nor one of
// duplicates hides the other.
type refusalLog struct {
	logger     log.Logger
	limiter    *rate.Limiter
	suppressed prometheus.Counter
}

func newRefusalLog(logger log.Logger, perSecond float64, reg prometheus.Registerer) *refusalLog {
	return &refusalLog{
		logger:  logger,
		limiter: newWarnLimiter(perSecond),
		suppressed: promauto.With(reg).NewCounter(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "refused_push_warnings_suppressed_total",
			Help:      "Refused-push warnings not logged because of -validator.warn-log-rate.",
		}),
	}
}

// newWarnLimiter returns a limiter letting perSecond warnings through a
// second: a burst of at least one, but none at rate 0.
func newWarnLimiter(perSecond float64) *rate.Limiter {
	burst := max(1, int(perSecond))
	if perSecond == 0 {
		burst = 0
	}
	return rate.NewLimiter(rate.Limit(perSecond), burst)
}

// log warns of the push refused with err. The upstream's failures are
// left out: the receivers warn of those whatever the rate, as they concern
// every sender.
func (l *refusalLog) log(err error, meta Meta) {
	switch IDOf(err) {
	case ErrIDUpstreamUnavailable, ErrIDUpstreamRedirect:
		return
	}
	if !l.limiter.Allow() {
		l.suppressed.Inc()
		return
	}
	level.Warn(l.logger).Log("msg", "refused push", "reason", IDOf(err), "tenant", meta.Tenant,
		"user_agent", meta.UserAgent, "sender", meta.RemoteAddr, "err", err)
}
