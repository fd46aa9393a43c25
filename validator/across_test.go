package validator

import (
	"flag"
	"math"
	"sync"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/validator/report"
)

func newTestValidator(t testing.TB, args ...string) (*Validator, *prometheus.Registry) {
	t.Helper()
	return newTestValidatorWithRules(t, nil, args...)
}

// newTestValidatorWithRules is newTestValidator with rules, which only
// YAML sets.
func newTestValidatorWithRules(t testing.TB, rules []RuleConfig, args ...string) (*Validator, *prometheus.Registry) {
	t.Helper()
	var cfg Config
	fs := flag.NewFlagSet("test", flag.PanicOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(args))
	cfg.Rules = rules
	reg := prometheus.NewRegistry()
	v, err := New(cfg, log.NewNopLogger(), reg)
	require.NoError(t, err)
	return v, reg
}

// A list written with spaces, "a, b", names the labels a and b.
func TestLabelListsWithSpaces(t *testing.T) {
	v, reg := newTestValidator(t, "-validator.action=report", "-validator.ignore-labels=pod, __replica__", "-validator.origin-labels=job, team", "-validator.attribution-labels=job, team")
	require.Equal(t, []string{"job", "team"}, v.OriginLabels("t"))
	meta := Meta{Tenant: "t", Time: t0}
	c, err := v.Check(meta, RW1, marshalRequest(t, nil,
		withSamples(series("__name__", "m", "team", "a", "__replica__", "r1"), 1000, 1),
		withSamples(series("__name__", "m", "team", "a", "__replica__", "r2"), 1000, 2)))
	require.NoError(t, err)
	defer c.Release()
	require.Len(t, c.Result.Duplicates, 1, "__replica__ is left out of identity")
	v.Record(c, meta)
	families, err := reg.Gather()
	require.NoError(t, err)
	var teams []string
	for _, mf := range families {
		if mf.GetName() != "pushguard_attributed_duplicate_samples_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "team" {
					teams = append(teams, l.GetValue())
				}
			}
		}
	}
	require.Equal(t, []string{"a"}, teams, "attributed by team")
}

// pushAccepted checks a push and records it as accepted upstream, as the
// push path does after a 2xx.
func pushAccepted(t testing.TB, v *Validator, meta Meta, in ...prompb.TimeSeries) {
	t.Helper()
	c, err := v.Check(meta, RW1, marshal(t, in...))
	require.NoError(t, err)
	v.Accepted(c, meta)
	c.Release()
}

func dupsOf(c *Checked) []dupWant {
	got := []dupWant{}
	for _, d := range c.Result.Duplicates {
		got = append(got, dupWant{d.Kind, d.Conflicting, d.TimestampMs, d.Sample.Series, d.First.Series})
	}
	return got
}

// ruleSeries is a recording rule's output series, as the ruler writes it.
func ruleSeries(ts int64, v float64) prompb.TimeSeries {
	return withSamples(series("__name__", "namespace:container_memory_usage_bytes:sum", "namespace", "shop"), float64(ts), v)
}

func TestAcrossRequests(t *testing.T) {
	nan := math.NaN()
	stale := math.Float64frombits(value.StaleNaN)
	hist := func(ts int64, count uint64) prompb.TimeSeries {
		return withHistogram(series("__name__", "rpc_latency_seconds", "job", "api"), ts, testHistogram(count))
	}
	for name, tc := range map[string]struct {
		action        string
		first, second []prompb.TimeSeries
		tenant        string // of the second push, when not the first's
		want          []dupWant
		allDropped    bool
	}{
		"rule sent twice with a new value": {
			first: []prompb.TimeSeries{ruleSeries(1000, 1)}, second: []prompb.TimeSeries{ruleSeries(1000, 2)},
			want: []dupWant{{AcrossRequests, true, 1000, 0, 0}},
		},
		"ruler retry with the same value": {
			first: []prompb.TimeSeries{ruleSeries(1000, 1)}, second: []prompb.TimeSeries{ruleSeries(1000, 1)},
			want: []dupWant{{AcrossRequests, false, 1000, 0, 0}},
		},
		"newer timestamp": {
			first: []prompb.TimeSeries{ruleSeries(1000, 1)}, second: []prompb.TimeSeries{ruleSeries(2000, 2)},
		},
		"older timestamp is out of order, not a duplicate": {
			first: []prompb.TimeSeries{ruleSeries(1000, 1)}, second: []prompb.TimeSeries{ruleSeries(500, 2)},
		},
		"the recorded timestamp among others": {
			first:  []prompb.TimeSeries{ruleSeries(1000, 1)},
			second: []prompb.TimeSeries{withSamples(series("__name__", "namespace:container_memory_usage_bytes:sum", "namespace", "shop"), 1000, 1, 2000, 1)},
			want:   []dupWant{{AcrossRequests, false, 1000, 0, 0}},
		},
		"another tenant": {
			first: []prompb.TimeSeries{ruleSeries(1000, 1)}, second: []prompb.TimeSeries{ruleSeries(1000, 2)}, tenant: "team-b",
		},
		"labels reordered, empty label": {
			first:  []prompb.TimeSeries{ruleSeries(1000, 1)},
			second: []prompb.TimeSeries{withSamples(series("namespace", "shop", "x", "", "__name__", "namespace:container_memory_usage_bytes:sum"), 1000, 2)},
			want:   []dupWant{{AcrossRequests, true, 1000, 0, 0}},
		},
		"NaN with the same bits": {
			first: []prompb.TimeSeries{ruleSeries(1000, nan)}, second: []prompb.TimeSeries{ruleSeries(1000, nan)},
			want: []dupWant{{AcrossRequests, false, 1000, 0, 0}},
		},
		"stale marker after a NaN": {
			first: []prompb.TimeSeries{ruleSeries(1000, nan)}, second: []prompb.TimeSeries{ruleSeries(1000, stale)},
			want: []dupWant{{AcrossRequests, true, 1000, 0, 0}},
		},
		"histogram resent": {
			first: []prompb.TimeSeries{hist(1000, 5)}, second: []prompb.TimeSeries{hist(1000, 5)},
			want: []dupWant{{AcrossRequests, false, 1000, 0, 0}},
		},
		"histogram changed": {
			first: []prompb.TimeSeries{hist(1000, 5)}, second: []prompb.TimeSeries{hist(1000, 6)},
			want: []dupWant{{AcrossRequests, true, 1000, 0, 0}},
		},
		"float after a histogram": {
			first:  []prompb.TimeSeries{hist(1000, 5)},
			second: []prompb.TimeSeries{withSamples(series("__name__", "rpc_latency_seconds", "job", "api"), 1000, 5)},
			want:   []dupWant{{AcrossRequests, true, 1000, 0, 0}},
		},
		"repeated in the request too: one across_requests, the rest in-request": {
			action: "keep-first",
			first:  []prompb.TimeSeries{ruleSeries(1000, 1)},
			second: []prompb.TimeSeries{ruleSeries(1000, 2), ruleSeries(1000, 3)},
			want:   []dupWant{{AcrossRequests, true, 1000, 0, 0}, {AcrossSeries, true, 1000, 1, 0}},
			// keep-first drops both: the upstream already has the first value.
			allDropped: true,
		},
		"keep-first keeps the rest of the request": {
			action: "keep-first",
			first:  []prompb.TimeSeries{ruleSeries(1000, 1)},
			second: []prompb.TimeSeries{ruleSeries(1000, 2), withSamples(series("__name__", "up"), 1000, 1)},
			want:   []dupWant{{AcrossRequests, true, 1000, 0, 0}},
		},
		"the first value of a repeating first push is recorded": {
			action: "keep-first",
			first:  []prompb.TimeSeries{ruleSeries(1000, 1), ruleSeries(1000, 2)},
			second: []prompb.TimeSeries{ruleSeries(1000, 1)},
			want:   []dupWant{{AcrossRequests, false, 1000, 0, 0}},
			// A ruler retry of what the upstream already has: nothing to send.
			allDropped: true,
		},
		"a dropped sample is not recorded": {
			action:     "keep-first",
			first:      []prompb.TimeSeries{withSamples(series("__name__", "m"), 1000, 1, 2000, 5, 2000, 6)},
			second:     []prompb.TimeSeries{withSamples(series("__name__", "m"), 2000, 5)},
			want:       []dupWant{{AcrossRequests, false, 2000, 0, 0}},
			allDropped: true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			action := tc.action
			if action == "" {
				action = "report"
			}
			v, _ := newTestValidator(t, "-validator.action="+action)
			meta := Meta{Tenant: "team-a", Time: t0}
			pushAccepted(t, v, meta, tc.first...)
			if tc.tenant != "" {
				meta.Tenant = tc.tenant
			}
			c, err := v.Check(meta, RW1, marshal(t, tc.second...))
			require.NoError(t, err)
			defer c.Release()
			require.ElementsMatch(t, tc.want, dupsOf(c))
			require.Equal(t, tc.allDropped, c.AllDropped())
		})
	}
}

// A push whose samples all repeat what the upstream has still goes when it
// carries metric metadata: the metadata alone.
func TestAllDroppedForwardsMetadata(t *testing.T) {
	v, _ := newTestValidator(t, "-validator.action=keep-first")
	meta := Meta{Tenant: "team-a", Time: t0}
	pushAccepted(t, v, meta, ruleSeries(1000, 1))
	c, err := v.Check(meta, RW1, marshalRequest(t, testMetadata, ruleSeries(1000, 1)))
	require.NoError(t, err)
	defer c.Release()
	require.Equal(t, c.Samples(), c.Patch.Dropped)
	require.False(t, c.AllDropped(), "the metadata is left to forward")
	got := unmarshal(t, c.Patch.Encode(c.Request))
	require.Empty(t, got.Timeseries)
	requireSameMessages(t, metadataPtrs(testMetadata), metadataPtrs(got.Metadata), "metadata")
}

// So does a push whose samples all repeat what the upstream has but whose
// series carry exemplars: the exemplars, in series of their own.
func TestAllDroppedForwardsExemplars(t *testing.T) {
	v, _ := newTestValidator(t, "-validator.action=keep-first")
	meta := Meta{Tenant: "team-a", Time: t0}
	pushAccepted(t, v, meta, ruleSeries(1000, 1))
	again := withExemplar(ruleSeries(1000, 1), 900, 1, "cafe")
	c, err := v.Check(meta, RW1, marshalRequest(t, nil, again))
	require.NoError(t, err)
	defer c.Release()
	require.Equal(t, c.Samples(), c.Patch.Dropped)
	require.False(t, c.AllDropped(), "the exemplar is left to forward")
	got := unmarshal(t, c.Patch.Encode(c.Request))
	require.Len(t, got.Timeseries, 1)
	require.Empty(t, got.Timeseries[0].Samples)
	require.Equal(t, again.Exemplars, got.Timeseries[0].Exemplars)
}

// Mimir's HA tracker answers 202 to a push from a replica that is not the
// elected one, and drops its samples: with __replica__ left out of
// identity, the elected replica's samples at the same timestamps are no
// repeats, and keep-first must not drop them.
func TestSettledByTheHATracker(t *testing.T) {
	require.True(t, Stored(200))
	require.True(t, Stored(204))
	require.False(t, Stored(202))
	for _, action := range []string{"report", "keep-first"} {
		t.Run(action, func(t *testing.T) {
			v, _ := newTestValidator(t, "-validator.action="+action, "-validator.ignore-labels=__replica__")
			meta := Meta{Tenant: "team-a", Time: t0}
			replica := func(r string, v float64) prompb.TimeSeries {
				return withSamples(series("__name__", "up", "cluster", "c1", "__replica__", r), 1000, v)
			}
			c, err := v.Check(meta, RW1, marshal(t, replica("b", 0)))
			require.NoError(t, err)
			v.Settle(c, meta, 202)
			c.Release()

			c, err = v.Check(meta, RW1, marshal(t, replica("a", 1)))
			require.NoError(t, err)
			defer c.Release()
			v.Settle(c, meta, 200)
			require.Empty(t, c.Result.Duplicates)
			require.False(t, c.Changed)
		})
	}
}

// The record holds what went upstream: a value an action wrote (the
// group's maximum, its sum) rather than the sender's first value.
func TestRecordHoldsThePatchedValue(t *testing.T) {
	for action, kept := range map[string]float64{"keep-max": 7, "sum": 12, "keep-last": 7, "keep-first": 5} {
		t.Run(action, func(t *testing.T) {
			v, _ := newTestValidator(t, "-validator.action="+action)
			meta := Meta{Tenant: "team-a", Time: t0}
			km := func(v float64) prompb.TimeSeries { return withSamples(series("__name__", "km", "job", "j"), 1000, v) }
			c, err := v.Check(meta, RW1, marshal(t, km(5), km(7)))
			require.NoError(t, err)
			v.Settle(c, meta, 200)
			c.Release()

			c, err = v.Check(meta, RW1, marshal(t, km(kept)))
			require.NoError(t, err)
			defer c.Release()
			require.Equal(t, []dupWant{{AcrossRequests, false, 1000, 0, 0}}, dupsOf(c), "a resend of what went upstream is identical")
			require.Equal(t, math.Float64bits(kept), c.Result.Duplicates[0].RecordedValue)
		})
	}
}

func TestAcrossRequestsOnlyAfterAcceptance(t *testing.T) {
	v, reg := newTestValidator(t)
	meta := Meta{Tenant: "team-a", Time: t0}

	// Refused upstream: Accepted is not called, nothing is recorded.
	c, err := v.Check(meta, RW1, marshal(t, ruleSeries(1000, 1)))
	require.NoError(t, err)
	c.Release()
	c, err = v.Check(meta, RW1, marshal(t, ruleSeries(1000, 2)))
	require.NoError(t, err)
	require.Empty(t, c.Result.Duplicates)
	v.Accepted(c, meta)
	c.Release()

	c, err = v.Check(meta, RW1, marshal(t, ruleSeries(1000, 3)))
	require.NoError(t, err)
	defer c.Release()
	require.Equal(t, []dupWant{{AcrossRequests, true, 1000, 0, 0}}, dupsOf(c))
	require.Equal(t, math.Float64bits(2), c.Result.Duplicates[0].RecordedValue)

	// The offender shows the recorded value and the new one.
	v.Record(c, meta)
	offs, _ := v.Store().List("team-a", report.Filter{})
	require.Len(t, offs, 1)
	require.Equal(t, "across_requests", offs[0].Kind)
	require.Equal(t, []report.Value{2, 3}, offs[0].Example.Values)
	require.Nil(t, offs[0].Example.FirstLabels)

	require.Equal(t, 3.0, testutil.ToFloat64(v.lookups.WithLabelValues("team-a")))
	require.Equal(t, 1.0, testutil.ToFloat64(v.hits.WithLabelValues("team-a")))
	require.Equal(t, 1.0, testutil.ToFloat64(v.duplicates.WithLabelValues("team-a", "across_requests", "true", "report")))
	n, err := testutil.GatherAndCount(reg, "pushguard_cross_request_series")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func TestAcrossRequestsDisabled(t *testing.T) {
	v, reg := newTestValidator(t, "-validator.cross-request.enabled=false")
	require.Nil(t, v.SeriesRecord())
	meta := Meta{Tenant: "team-a", Time: t0}
	pushAccepted(t, v, meta, ruleSeries(1000, 1))
	c, err := v.Check(meta, RW1, marshal(t, ruleSeries(1000, 2)))
	require.NoError(t, err)
	defer c.Release()
	require.Empty(t, c.Result.Duplicates)
	n, err := testutil.GatherAndCount(reg, "pushguard_cross_request_series")
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestAcrossRequestsSettled follows pushes whose tenant only reports: they
// go upstream as they came, and the record is looked up and updated in one
// pass when they are settled, so that a push sees those accepted before it
// was answered, even in flight with it.
func TestAcrossRequestsSettled(t *testing.T) {
	v, _ := newTestValidator(t, "-validator.action=report")
	meta := Meta{Tenant: "team-a", Time: t0}
	forwarded := func(ts int64, value float64) *Checked {
		t.Helper()
		sent := false
		c, err := v.CheckForwarding(meta, RW1, marshal(t, ruleSeries(ts, value)), func() { sent = true })
		require.NoError(t, err)
		require.True(t, sent)
		require.Empty(t, c.Result.Duplicates, "looked up only when settled")
		return c
	}

	// Two pushes of one series in flight at once.
	a, b := forwarded(1000, 1), forwarded(1000, 2)
	v.Settle(a, meta, 200)
	require.Empty(t, a.Result.Duplicates)
	v.Settle(b, meta, 200)
	require.Equal(t, []dupWant{{AcrossRequests, true, 1000, 0, 0}}, dupsOf(b))
	require.Equal(t, math.Float64bits(1), b.Result.Duplicates[0].RecordedValue)
	require.Equal(t, []Outcome{{Action: ActionReport}}, b.Patch.Outcomes)
	a.Release()
	b.Release()
	offs, _ := v.Store().List("team-a", report.Filter{})
	require.Len(t, offs, 1)
	require.Equal(t, "across_requests", offs[0].Kind)
	require.Equal(t, []report.Value{1, 2}, offs[0].Example.Values)
	require.Equal(t, 2.0, testutil.ToFloat64(v.lookups.WithLabelValues("team-a")))
	require.Equal(t, 1.0, testutil.ToFloat64(v.hits.WithLabelValues("team-a")))

	// Refused (Mimir's 400 for the duplicate): reported, not recorded.
	c := forwarded(1000, 3)
	v.Settle(c, meta, 400)
	require.Equal(t, []dupWant{{AcrossRequests, true, 1000, 0, 0}}, dupsOf(c))
	c.Release()
	c = forwarded(1500, 3)
	v.Settle(c, meta, 400)
	c.Release()
	// To be retried: neither reported nor recorded until it comes back.
	c = forwarded(2000, 4)
	v.Settle(c, meta, 503)
	require.Empty(t, c.Result.Duplicates)
	c.Release()
	got, ok := v.SeriesRecord().Get(recordKeyOf(t, v, meta, ruleSeries(0, 0)), t0)
	require.True(t, ok)
	require.Equal(t, Latest{TimestampMs: 1000, Value: math.Float64bits(1)}, got)

	// Accepted, without Settle, looks a push up and records it all the same.
	c = forwarded(1500, 8)
	v.Accepted(c, meta)
	require.Empty(t, c.Result.Duplicates)
	c.Release()
	c = forwarded(1500, 9)
	v.Accepted(c, meta)
	require.Equal(t, []dupWant{{AcrossRequests, true, 1500, 0, 0}}, dupsOf(c))
	c.Release()

	// A later push accepted is what a push checked before forwarding sees.
	c = forwarded(2000, 5)
	v.Settle(c, meta, 200)
	require.Empty(t, c.Result.Duplicates)
	c.Release()
	c, err := v.Check(meta, RW1, marshal(t, ruleSeries(2000, 6)))
	require.NoError(t, err)
	defer c.Release()
	require.Equal(t, []dupWant{{AcrossRequests, true, 2000, 0, 0}}, dupsOf(c))
	require.Equal(t, math.Float64bits(5), c.Result.Duplicates[0].RecordedValue)
}

// recordKeyOf is the record key of ts's series for meta's tenant.
func recordKeyOf(t *testing.T, v *Validator, meta Meta, ts prompb.TimeSeries) uint64 {
	t.Helper()
	c, err := v.DryRun(meta.Tenant, decodeBody(t, marshal(t, ts)), "")
	require.NoError(t, err)
	defer c.Release()
	return recordKey(TenantHash(meta.Tenant), c.Result.Hashes[0])
}

// TestAcrossRequestsConcurrent runs pushes of shared series from many
// goroutines, checked before forwarding (keep-first) or settled in one pass
// (report, forwarded as they came); with the race detector on it proves
// the record is safe, and afterwards it holds each series' largest
// forwarded timestamp.
func TestAcrossRequestsConcurrent(t *testing.T) {
	for _, action := range []Action{ActionKeepFirst, ActionReport} {
		t.Run(string(action), func(t *testing.T) {
			v, _ := newTestValidator(t, "-validator.action="+string(action))
			const workers, pushes = 4, 100
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for p := range pushes {
						meta := Meta{Tenant: "team-a", Time: t0}
						ts := int64(p * 1000)
						in := []prompb.TimeSeries{
							ruleSeries(ts, float64(w)),
							withSamples(series("__name__", "up", "worker", string(rune('a'+w))), float64(ts), 1),
						}
						c, err := v.CheckForwarding(meta, RW1, marshal(t, in...), func() {})
						if err != nil {
							t.Error(err)
							return
						}
						if c.AllDropped() {
							v.Record(c, meta)
						} else {
							v.Settle(c, meta, 200)
						}
						c.Release()
					}
				})
			}
			wg.Wait()
			require.Equal(t, 1+workers, v.SeriesRecord().Len())

			c, err := v.Check(Meta{Tenant: "team-a", Time: t0}, RW1, marshal(t, ruleSeries((pushes-1)*1000, 0)))
			require.NoError(t, err)
			defer c.Release()
			require.Len(t, c.Result.Duplicates, 1, "the latest timestamp is recorded")
			require.Equal(t, int64((pushes-1)*1000), c.Result.Duplicates[0].TimestampMs)
		})
	}
}

func TestCrossRequestConfigValidate(t *testing.T) {
	for _, args := range [][]string{
		{"-validator.cross-request.max-series=0"},
		{"-validator.cross-request.ttl=0s"},
	} {
		var cfg Config
		fs := flag.NewFlagSet("test", flag.PanicOnError)
		cfg.RegisterFlags(fs)
		require.NoError(t, fs.Parse(args))
		require.Error(t, cfg.Validate(), args)
	}
	var cfg Config
	fs := flag.NewFlagSet("test", flag.PanicOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"-validator.cross-request.enabled=false", "-validator.cross-request.max-series=0"}))
	require.NoError(t, cfg.Validate(), "limits of a disabled record do not matter")
}

// TestAcrossRequestsWithInRequestRepeats: when the upstream already holds a
// timestamp, any action that keeps a sample of the request's own group at
// that timestamp would make the upstream refuse it; the whole group goes.
func TestAcrossRequestsWithInRequestRepeats(t *testing.T) {
	for _, action := range []string{"keep-first", "keep-last", "keep-max", "sum", "label"} {
		t.Run(action, func(t *testing.T) {
			v, _ := newTestValidator(t, "-validator.action="+action)
			meta := Meta{Tenant: "t"}
			pushAccepted(t, v, meta, ruleSeries(1000, 1))
			other := withSamples(series("__name__", "up"), 1000, 1)
			body := marshal(t, ruleSeries(1000, 1), other, ruleSeries(1000, 5), ruleSeries(1000, 7))
			c, err := v.Check(meta, RW1, body)
			require.NoError(t, err)
			defer c.Release()
			out := unmarshal(t, c.Body(body))
			require.Len(t, out.Timeseries, 1, "only the unrelated series is forwarded")
			require.Equal(t, "up", out.Timeseries[0].Labels[0].Value)
			require.Equal(t, 3, c.Patch.Dropped)
			for _, o := range c.Patch.Outcomes {
				require.Equal(t, ActionKeepFirst, o.Action)
			}
		})
	}
}
