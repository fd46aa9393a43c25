package validator

import (
	"flag"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/validator/report"
)

// marked returns how many tenants a holds a mark for.
func marked(a *tenantActivity) int {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	return len(a.last)
}

// tenantSeries returns, by tenant, the names of the gathered series that
// carry a tenant label.
func tenantSeries(t *testing.T, reg *prometheus.Registry) map[string][]string {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string][]string{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "tenant" {
					out[l.GetValue()] = append(out[l.GetValue()], mf.GetName())
				}
			}
		}
	}
	return out
}

// A tenant that stops pushing loses its metric series, its attribution
// values and its report's eviction count after the idle timeout; a tenant
// still pushing keeps them, and a tenant that comes back starts afresh.
func TestIdleTenantsForgotten(t *testing.T) {
	v, reg := newTestValidatorWithRules(t, []RuleConfig{{Match: `{__name__="split"}`, Action: "label"}, {Match: `{__name__="added"}`, Action: "sum"}},
		"-validator.action=keep-first", "-validator.tenant-idle-timeout=1m",
		"-validator.max-offenders=1", "-validator.max-attribution-cardinality=1")
	// Every per-tenant series: received, lookups and hits, duplicates,
	// dropped, relabelled, attributed (a value and the overflow), and the
	// report's size and evictions.
	push := func(tenant string) {
		meta := Meta{Tenant: tenant, Time: time.Now()}
		c, err := v.Check(meta, RW1, marshal(t,
			withSamples(series("__name__", "m", "job", "a"), 1000, 1, 1000, 2),
			withSamples(series("__name__", "m", "job", "b"), 1000, 1, 1000, 2),
			withSamples(series("__name__", "split", "job", "a"), 1000, 1),
			withSamples(series("__name__", "split", "job", "a"), 1000, 2),
			withSamples(series("__name__", "added", "job", "a"), 1000, 1, 1000, 2)))
		require.NoError(t, err)
		v.Record(c, meta)
		v.Accepted(c, meta)
		c.Release()
	}
	all := []string{
		"pushguard_attributed_duplicate_samples_total",
		"pushguard_changed_samples_total",
		"pushguard_cross_request_hits_total",
		"pushguard_cross_request_lookups_total",
		"pushguard_dropped_samples_total",
		"pushguard_duplicate_samples_total",
		"pushguard_inspection_failures_total",
		"pushguard_offenders_evicted_total",
		"pushguard_received_samples_total",
		"pushguard_relabelled_samples_total",
	}
	push("gone")
	testHookInspect = func(*Request) { panic("inspection bug") }
	c, err := v.Check(Meta{Tenant: "gone", Time: time.Now()}, RW1, marshal(t, series("__name__", "m")))
	testHookInspect = nil
	require.NoError(t, err)
	require.True(t, c.FailedOpen)
	c.Release()
	mid := time.Now()
	push("stays")
	got := tenantSeries(t, reg)
	for _, name := range all {
		require.Contains(t, got["gone"], name)
		if name != "pushguard_inspection_failures_total" {
			require.Contains(t, got["stays"], name)
		}
	}
	// The report holds one offender, of "stays": "gone" is forgotten by
	// the report but for its eviction count.
	_, evicted := v.Store().List("gone", report.Filter{})
	require.Positive(t, evicted)

	// Not idle for a minute yet: nothing goes.
	v.Sweep(mid.Add(59 * time.Second))
	require.Equal(t, got, tenantSeries(t, reg))

	v.Sweep(mid.Add(time.Minute))
	after := tenantSeries(t, reg)
	require.NotContains(t, after, "gone")
	require.ElementsMatch(t, got["stays"], after["stays"], "a tenant that pushed since keeps its series")
	_, evicted = v.Store().List("gone", report.Filter{})
	require.Zero(t, evicted)
	v.attrib.mtx.Lock()
	require.NotContains(t, v.attrib.tenants, "gone")
	v.attrib.mtx.Unlock()
	require.Equal(t, 1, marked(v.activity))

	// "stays" goes idle too: it keeps only the report's series, which
	// its offender in the report holds (the report is bounded by
	// -validator.max-offenders).
	v.Sweep(time.Now().Add(time.Hour))
	require.Equal(t, map[string][]string{"stays": {"pushguard_offenders", "pushguard_offenders_evicted_total"}}, tenantSeries(t, reg))
	require.Zero(t, marked(v.activity))

	// A tenant that comes back counts from zero.
	push("gone")
	require.Equal(t, 8.0, testutil.ToFloat64(v.receivedSamples.WithLabelValues("gone")))
	require.Contains(t, tenantSeries(t, reg)["gone"], "pushguard_attributed_duplicate_samples_total")
}

// A tenant whose offenders the report evicts after it went idle is
// forgotten at the next sweep, eviction count and all.
func TestIdleTenantEvictedLater(t *testing.T) {
	v, reg := newTestValidator(t, "-validator.tenant-idle-timeout=1m", "-validator.max-offenders=1")
	dup := withSamples(series("__name__", "m"), 1000, 1, 1000, 2)
	record := func(tenant string) {
		meta := Meta{Tenant: tenant, Time: time.Now()}
		c, err := v.Check(meta, RW1, marshal(t, dup))
		require.NoError(t, err)
		v.Record(c, meta)
		c.Release()
	}
	record("a")
	v.Sweep(time.Now().Add(time.Hour))
	require.Equal(t, map[string][]string{"a": {"pushguard_offenders", "pushguard_offenders_evicted_total"}}, tenantSeries(t, reg))
	record("b") // evicts a's offender: a is forgotten by the report
	_, evicted := v.Store().List("a", report.Filter{})
	require.Equal(t, int64(1), evicted)
	v.Sweep(time.Now())
	require.NotContains(t, tenantSeries(t, reg), "a")
	_, evicted = v.Store().List("a", report.Filter{})
	require.Zero(t, evicted)
}

// With the timeout at 0, tenants are kept.
func TestIdleTenantsKeptWithoutTimeout(t *testing.T) {
	v, reg := newTestValidator(t, "-validator.tenant-idle-timeout=0", "-validator.cross-request.enabled=false")
	meta := Meta{Tenant: "a", Time: time.Now()}
	c, err := v.Check(meta, RW1, marshal(t, withSamples(series("__name__", "m"), 1000, 1, 1000, 2)))
	require.NoError(t, err)
	v.Record(c, meta)
	c.Release()
	before := tenantSeries(t, reg)
	require.NotEmpty(t, before["a"])
	require.Zero(t, marked(v.activity), "nothing is marked, so nothing grows")
	v.Sweep(time.Now().Add(24 * time.Hour))
	require.Equal(t, before, tenantSeries(t, reg))
	require.Nil(t, v.Service(), "nothing to sweep")
}

func TestTenantIdleTimeoutValidated(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("test", flag.PanicOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"-validator.tenant-idle-timeout=-1s"}))
	require.ErrorContains(t, cfg.Validate(), "-validator.tenant-idle-timeout must not be negative")
}

// touch after a sweep brings the tenant back; idle takes only tenants
// marked before the deadline.
func TestTenantActivity(t *testing.T) {
	a := newTenantActivity()
	a.touch("x", t0)
	a.touch("y", t0.Add(time.Minute))
	a.touch("x", t0.Add(-time.Hour)) // an older mark does not move it back
	require.Equal(t, []string{"x"}, a.idle(t0.Add(time.Second)))
	require.False(t, a.active("x"))
	require.True(t, a.active("y"))
	require.Empty(t, a.idle(t0.Add(time.Second)))
	a.touch("x", t0.Add(2*time.Minute))
	require.ElementsMatch(t, []string{"x", "y"}, a.idle(t0.Add(time.Hour)))
	require.Zero(t, marked(a))
}

// A sweep that comes between a push's counts marks none of them lost: each
// count marks the tenant again after it.
func TestTenantMarkedAfterEachCount(t *testing.T) {
	v, _ := newTestValidator(t, "-validator.tenant-idle-timeout=1m")
	meta := Meta{Tenant: "a", Time: time.Now()}
	// Forwarded as it came (report), so the record is looked up once
	// the upstream accepted the push.
	c, err := v.CheckForwarding(meta, RW1, marshal(t, withSamples(series("__name__", "m"), 1000, 1, 1000, 2)), func() {})
	require.NoError(t, err)
	defer c.Release()
	require.True(t, c.acrossAtSettle)
	v.Sweep(time.Now().Add(time.Hour))
	require.False(t, v.activity.active("a"))
	v.Record(c, meta)
	require.True(t, v.activity.active("a"), "the duplicate counts mark it")
	v.Sweep(time.Now().Add(time.Hour))
	v.Accepted(c, meta)
	require.True(t, v.activity.active("a"), "the record lookups mark it")
}

// Attribution counts racing a sweep of their tenant leave no series the
// next sweep would not find.
func TestAttributionForgetRacesAdd(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewAttribution([]string{"job"}, 1000, reg)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				a.Add("t", "within_series", "true", []string{strconv.Itoa(w*1_000_000 + i%500)}, 1)
			}
		}()
	}
	for range 20000 {
		a.forget("t")
	}
	close(stop)
	wg.Wait()
	a.forget("t")
	require.Empty(t, tenantSeries(t, reg)["t"])
}

// A tenant whose pushes have no duplicates, or whose push failed
// inspection, is marked too: its received and failure series would
// otherwise never go.
func TestTenantMarkedWithoutDuplicates(t *testing.T) {
	v, reg := newTestValidator(t, "-validator.tenant-idle-timeout=1m", "-validator.cross-request.enabled=false")
	meta := Meta{Tenant: "clean", Time: time.Now()}
	c, err := v.Check(meta, RW1, marshal(t, withSamples(series("__name__", "m"), 1000, 1)))
	require.NoError(t, err)
	v.Record(c, meta)
	c.Release()
	require.True(t, v.activity.active("clean"))

	testHookInspect = func(*Request) { panic("inspection bug") }
	defer func() { testHookInspect = nil }()
	meta.Tenant = "failed"
	c, err = v.Check(meta, RW1, marshal(t, withSamples(series("__name__", "m"), 1000, 1)))
	require.NoError(t, err)
	require.True(t, c.FailedOpen)
	c.Release()
	require.True(t, v.activity.active("failed"))
	require.Contains(t, tenantSeries(t, reg)["failed"], "pushguard_inspection_failures_total")

	v.Sweep(time.Now().Add(time.Hour))
	require.Empty(t, tenantSeries(t, reg))
}

// With no bound across tenants (-validator.max-offenders=0), an idle
// tenant's report goes too: nothing else would bound the tenants it keeps.
func TestIdleTenantsReportForgottenWithoutGlobalBound(t *testing.T) {
	v, reg := newTestValidator(t, "-validator.tenant-idle-timeout=1m", "-validator.max-offenders=0")
	for i := range 50 {
		meta := Meta{Tenant: "t" + strconv.Itoa(i), Time: time.Now()}
		c, err := v.Check(meta, RW1, marshal(t, withSamples(series("__name__", "m"), 1000, 1, 1000, 2)))
		require.NoError(t, err)
		v.Record(c, meta)
		c.Release()
	}
	st := v.Store().Stats()
	require.Len(t, st.Tenants, 50)
	require.Equal(t, 50, st.Offenders)
	v.Sweep(time.Now().Add(time.Hour))
	require.Empty(t, tenantSeries(t, reg))
	st = v.Store().Stats()
	require.Empty(t, st.Tenants)
	require.Zero(t, st.Offenders, "gone from the list across tenants too")
	all, _ := v.Store().ListAll(report.Filter{})
	require.Empty(t, all)
}

// The validator's sweep sweeps the record as well.
func TestSweepDropsIdleRecordSeries(t *testing.T) {
	v, _ := newTestValidator(t, "-validator.cross-request.ttl=1m")
	pushAccepted(t, v, Meta{Tenant: "a", Time: time.Now()}, withSamples(series("__name__", "m"), 1000, 1))
	require.Equal(t, 1, v.SeriesRecord().Len())
	v.Sweep(time.Now().Add(2 * time.Minute))
	require.Zero(t, v.SeriesRecord().Len())
}

// A push whose recording panics is counted as a failure, and its tenant
// marked after it.
func TestTenantMarkedAfterRecordingFailed(t *testing.T) {
	v, reg := newTestValidator(t, "-validator.tenant-idle-timeout=1m")
	meta := Meta{Tenant: "a", Time: time.Now()}
	c, err := v.Check(meta, RW1, marshal(t, withSamples(series("__name__", "m", "job", "j"), 1000, 1, 1000, 2)))
	require.NoError(t, err)
	defer c.Release()
	require.Len(t, c.Result.Duplicates, 1)
	v.Sweep(time.Now().Add(time.Hour))
	require.False(t, v.activity.active("a"))
	// A duplicate naming a series the request does not have: recording
	// it panics, as a bug would.
	c.Result.Duplicates[0].Sample.Series = 1 << 20
	v.Record(c, meta)
	require.True(t, v.activity.active("a"))
	require.Contains(t, tenantSeries(t, reg)["a"], "pushguard_inspection_failures_total")
}
