package validator

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
)

// tenantActivity remembers when each tenant last changed one of its metric
// series, so that the series of a tenant that went away can be deleted:
// any X-Scope-OrgID is accepted, and each would otherwise keep its series
// until restart.
type tenantActivity struct {
	mtx  sync.Mutex
	last map[string]int64 // unix nanoseconds
}

func newTenantActivity() *tenantActivity {
	return &tenantActivity{last: map[string]int64{}}
}

// touch marks tenant active at now. Call it after changing the tenant's
// series, not before: a sweep that comes in between then forgets the
// tenant before the change and the mark brings it back, so no series is
// ever left without a mark.
func (a *tenantActivity) touch(tenant string, now time.Time) {
	ns := now.UnixNano()
	a.mtx.Lock()
	if a.last[tenant] < ns {
		a.last[tenant] = ns
	}
	a.mtx.Unlock()
}

// idle removes and returns the tenants last marked before deadline.
func (a *tenantActivity) idle(deadline time.Time) []string {
	d := deadline.UnixNano()
	var out []string
	a.mtx.Lock()
	for t, last := range a.last {
		if last < d {
			out = append(out, t)
			delete(a.last, t)
		}
	}
	a.mtx.Unlock()
	return out
}

// active reports whether tenant has been marked since it was last removed.
func (a *tenantActivity) active(tenant string) bool {
	a.mtx.Lock()
	_, ok := a.last[tenant]
	a.mtx.Unlock()
	return ok
}

// touchTenant marks tenant active, after its series changed. With no idle
// timeout nothing is forgotten, and nothing is marked.
func (v *Validator) touchTenant(tenant string) {
	if v.cfg.TenantIdleTimeout > 0 {
		v.activity.touch(tenant, time.Now())
	}
}

// Sweep forgets what pushguard keeps of tenants idle for longer than
// -validator.tenant-idle-timeout (their metric series, their attribution
// label values and the eviction count of their forgotten report; their
// whole report when -validator.max-offenders is 0), and drops
// the cross-request record's idle series, which pushes otherwise drop only
// in the shards they write to.
func (v *Validator) Sweep(now time.Time) {
	if v.record != nil {
		v.record.Sweep(now)
	}
	if v.cfg.TenantIdleTimeout <= 0 {
		return
	}
	for _, t := range v.activity.idle(now.Add(-v.cfg.TenantIdleTimeout)) {
		v.forgetTenant(t)
		if v.cfg.MaxOffenders == 0 {
			// Nothing else bounds how many tenants the report keeps.
			v.store.Forget(t)
		}
	}
	v.store.RetainForgotten(v.activity.active)
}

// forgetTenant deletes tenant's per-tenant metric series. Each is deleted
// by its full label values rather than by a partial match, which would
// scan every series of the metric for every idle tenant.
func (v *Validator) forgetTenant(tenant string) {
	v.receivedSamples.DeleteLabelValues(tenant)
	v.relabelled.DeleteLabelValues(tenant)
	v.failures.DeleteLabelValues(tenant)
	if v.lookups != nil {
		v.lookups.DeleteLabelValues(tenant)
		v.hits.DeleteLabelValues(tenant)
	}
	for _, a := range Actions {
		v.dropped.DeleteLabelValues(tenant, string(a))
		v.changed.DeleteLabelValues(tenant, string(a))
		forEachKindConflict(func(kind, conflict string) {
			v.duplicates.DeleteLabelValues(tenant, kind, conflict, string(a))
		})
	}
	v.attrib.forget(tenant)
}

// forEachKindConflict calls f with every pair of kind and conflict label
// values the duplicate counters can have.
func forEachKindConflict(f func(kind, conflict string)) {
	for _, k := range KindNames() {
		for _, c := range [...]bool{false, true} {
			f(k, strconv.FormatBool(c))
		}
	}
}

// sweepInterval is how often Service sweeps: often enough that a tenant is
// forgotten soon after its timeout, at most once a minute.
func (v *Validator) sweepInterval() time.Duration {
	interval := time.Minute
	if t := v.cfg.TenantIdleTimeout; t > 0 {
		interval = min(interval, max(t/4, 100*time.Millisecond))
	}
	return interval
}

// Service returns the service that runs Sweep periodically, or nil when
// there is nothing to sweep.
func (v *Validator) Service() services.Service {
	if v.record == nil && v.cfg.TenantIdleTimeout <= 0 {
		return nil
	}
	return services.NewTimerService(v.sweepInterval(), nil, func(context.Context) error {
		v.Sweep(time.Now())
		return nil
	}, nil).WithName("validator sweep")
}
