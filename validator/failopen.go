package validator

import (
	"fmt"
	"runtime/debug"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// testHookInspect, when set by a test, runs between decoding and
// inspection, so that tests can make inspection fail for real.
var testHookInspect func(*Request)

func newFailuresCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	return promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
		Namespace: "pushguard",
		Name:      "inspection_failures_total",
		Help:      "Pushes whose inspection or patching failed inside pushguard (a bug, never bad input); with -validator.fail-open they were forwarded unchanged.",
	}, []string{"tenant"})
}

// panicError is a panic recovered while handling one push.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// guard runs f and turns a panic into an error, so that a bug met by one
// push never takes the process, and every other tenant's pushes, down.
func guard(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{value: p, stack: debug.Stack()}
		}
	}()
	return f()
}

// check inspects r, plans the actions and, when they change the request,
// encodes the result with encode, all under guard. Bad input is an error
// the sender sees; a failure of pushguard's own is failed open: the
// request goes on as it came, unless -validator.fail-open=false.
//
// When the tenant's actions only report and forward is not nil, check
// calls forward once r decoded, before inspecting it: what goes upstream
// is then the request as it came, and the caller may send it while
// inspection goes on. From then on check returns no error: a failure of
// inspection is failed open whatever -validator.fail-open says, as the
// push is already on its way.
func (v *Validator) check(meta Meta, r *Request, encode func(*Checked), forward func()) (*Checked, error) {
	rules := v.overrides.For(meta.Tenant).Rules
	var early func()
	forwarded := false
	if forward != nil && rules.OnlyReports() {
		early = func() {
			forwarded = true
			forward()
		}
	}
	var c *Checked
	err := guard(func() error {
		var err error
		if c, err = v.inspect(r, rules, &meta, early); err == nil && c.Changed && !c.Patch.Rejected {
			encode(c)
		}
		return err
	})
	if err == nil {
		v.receivedSamples.WithLabelValues(meta.Tenant).Add(float64(c.Samples()))
		v.touchTenant(meta.Tenant)
		if c.Patch.Rejected {
			// A refused push is bad data: the sender will not retry it, so
			// this is its only chance to be counted.
			err := c.Patch.RejectError(c.Request, &c.Result)
			v.Record(c, meta)
			c.Release()
			return nil, err
		}
		return c, nil
	}
	if _, ok := err.(*panicError); !ok && CauseOf(err) != CauseInternal && !forwarded {
		PutRequest(r)
		return nil, err // bad input: the sender must hear of it
	}
	// After a panic the pooled Checked may be in any state: leave it to
	// the garbage collector and keep only r, whose bytes decoding and
	// inspection never write.
	return v.failOpen(meta, r, err, forwarded)
}

// failOpen counts and logs an inspection failure and returns a Checked
// that forwards r's original bytes, or, when failing open is off and
// forwarding has not started (started), an error the sender retries.
func (v *Validator) failOpen(meta Meta, r *Request, err error, started bool) (*Checked, error) {
	v.failures.WithLabelValues(meta.Tenant).Inc()
	v.touchTenant(meta.Tenant)
	logger := level.Error(v.logger)
	kv := []any{"msg", "inspecting push failed", "tenant", meta.Tenant, "fail_open", v.cfg.Limits.FailOpen || started, "err", err}
	if p, ok := err.(*panicError); ok {
		kv = append(kv, "stack", string(p.stack))
	}
	logger.Log(kv...)
	if !v.cfg.Limits.FailOpen && !started {
		PutRequest(r)
		return nil, NewError(ErrIDInspectionFailed, CauseInternal, err, "inspecting the push failed inside pushguard")
	}
	// Forget the decoded view, which may be partial; keep the bytes.
	buf, limits, version := r.Buf, r.limits, r.Version
	r.Reset()
	r.Buf, r.limits, r.Version = buf, limits, version
	c := &Checked{Request: r, FailedOpen: true}
	return c, nil
}

// recoverRecord is deferred by Record: a failure while recording costs the
// report of one push, never the process.
func (v *Validator) recoverRecord(meta Meta) {
	if p := recover(); p != nil {
		v.failures.WithLabelValues(meta.Tenant).Inc()
		v.touchTenant(meta.Tenant)
		level.Error(v.logger).Log("msg", "recording offenders failed", "tenant", meta.Tenant, "err", fmt.Sprintf("panic: %v", p), "stack", string(debug.Stack()))
	}
}
