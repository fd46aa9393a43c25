package report

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

var storeEpoch = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// testOffender returns a report entry of tenant "team-a" for the given metric,
// kind and origin, seen at storeEpoch+seenAt.
func testOffender(metric, kind string, origin map[string]string, conflicting, identical int64, seenAt time.Duration) *Offender {
	return &Offender{
		Tenant:             "team-a",
		Metric:             metric,
		Kind:               kind,
		Origin:             origin,
		ConflictingSamples: conflicting,
		IdenticalSamples:   identical,
		FirstSeen:          storeEpoch.Add(seenAt),
		LastSeen:           storeEpoch.Add(seenAt),
		Action:             "report",
		Example:            Example{TimestampMs: int64(seenAt / time.Millisecond)},
	}
}

func forTenant(o *Offender, tenant string) *Offender {
	o.Tenant = tenant
	return o
}

func metricsOf(os []Offender) []string {
	var out []string
	for _, o := range os {
		out = append(out, o.Metric)
	}
	return out
}

func TestStoreMerge(t *testing.T) {
	for name, tc := range map[string]struct {
		storedConflicting, incomingConflicting int64
		wantIncomingExample                    bool
	}{
		"identical, then conflicting: the conflicting example wins": {0, 2, true},
		"conflicting, then conflicting: the first example stays":    {1, 2, false},
		"conflicting, then identical: the first example stays":      {1, 0, false},
		"identical, then identical: the first example stays":        {0, 0, false},
	} {
		t.Run(name, func(t *testing.T) {
			s := NewStore(10, prometheus.NewRegistry())
			stored := testOffender("m", "across_series", map[string]string{"job": "a", "pod": "p"}, tc.storedConflicting, 3, time.Minute)
			stored.DroppedSamples = 1
			stored.UserAgent = "Prometheus/3.0.0"
			s.Record([]*Offender{stored})

			// Seen again by a request that started earlier and ended later
			// (a slow push), from a new Origin map with the same content.
			incoming := testOffender("m", "across_series", map[string]string{"pod": "p", "job": "a"}, tc.incomingConflicting, 4, 2*time.Minute)
			incoming.FirstSeen = storeEpoch
			incoming.Action = "keep-first"
			incoming.DroppedSamples = 5
			incoming.UserAgent = "Prometheus/3.1.0"
			s.Record([]*Offender{incoming})

			got, evicted := s.List("team-a", Filter{})
			require.Zero(t, evicted)
			require.Len(t, got, 1)
			o := got[0]
			require.Equal(t, tc.storedConflicting+tc.incomingConflicting, o.ConflictingSamples)
			require.Equal(t, int64(7), o.IdenticalSamples)
			require.Equal(t, int64(6), o.DroppedSamples)
			require.Equal(t, storeEpoch, o.FirstSeen)
			require.Equal(t, storeEpoch.Add(2*time.Minute), o.LastSeen)
			require.Equal(t, "keep-first", o.Action)
			require.Equal(t, "Prometheus/3.1.0", o.UserAgent)
			require.Equal(t, map[string]string{"job": "a", "pod": "p"}, o.Origin)
			wantExample := stored.Example
			if tc.wantIncomingExample {
				wantExample = incoming.Example
			}
			require.Equal(t, wantExample, o.Example)
		})
	}
}

// TestStoreMergeKeepsFallback: an offender one of whose pushes could not
// take the rules' action says so, though later pushes took it, until the
// rules ask for another action.
func TestStoreMergeKeepsFallback(t *testing.T) {
	type action struct{ applied, requested string }
	for name, tc := range map[string]struct {
		pushes []action
		want   action
	}{
		"fallback, then applied":         {[]action{{"keep-first", "sum"}, {"sum", ""}}, action{"keep-first", "sum"}},
		"applied, then fallback":         {[]action{{"sum", ""}, {"keep-first", "sum"}}, action{"keep-first", "sum"}},
		"fallback, then another action":  {[]action{{"keep-first", "sum"}, {"report", ""}}, action{"report", ""}},
		"fallback, then another request": {[]action{{"keep-first", "sum"}, {"keep-first", "label"}}, action{"keep-first", "label"}},
		"applied, then another action":   {[]action{{"sum", ""}, {"keep-max", ""}}, action{"keep-max", ""}},
	} {
		t.Run(name, func(t *testing.T) {
			s := NewStore(10, prometheus.NewRegistry())
			for i, a := range tc.pushes {
				o := testOffender("m", "across_series", map[string]string{"job": "a"}, 1, 0, time.Duration(i)*time.Minute)
				o.Action, o.RequestedAction = a.applied, a.requested
				s.Record([]*Offender{o})
			}
			got, _ := s.List("team-a", Filter{})
			require.Len(t, got, 1)
			require.Equal(t, tc.want, action{got[0].Action, got[0].RequestedAction})
		})
	}
}

// TestStoreRecordWithBuildsOnlyKeptExamples checks that RecordWith builds
// an example only when the store keeps it, with the same outcome as
// Record with every example built.
func TestStoreRecordWithBuildsOnlyKeptExamples(t *testing.T) {
	s := NewStore(10, prometheus.NewRegistry())
	var built []int
	record := func(offenders ...*Offender) {
		want := make([]Example, len(offenders))
		for i, o := range offenders {
			want[i], o.Example = o.Example, Example{}
		}
		s.RecordWith(offenders, Lazy{Example: func(i int) Example {
			built = append(built, i)
			return want[i]
		}})
	}
	origin := func(pod string) map[string]string { return map[string]string{"pod": pod} }

	// Two new offenders: both examples built.
	record(testOffender("m", "across_series", origin("a"), 0, 1, time.Minute),
		testOffender("m", "across_series", origin("b"), 1, 0, time.Minute))
	require.Equal(t, []int{0, 1}, built)

	// Known offenders repeated, identical for a and conflicting again for
	// b: nothing built. A new one (c) is.
	built = nil
	record(testOffender("m", "across_series", origin("a"), 0, 1, 2*time.Minute),
		testOffender("m", "across_series", origin("b"), 1, 0, 2*time.Minute),
		testOffender("m", "across_series", origin("c"), 0, 1, 2*time.Minute))
	require.Equal(t, []int{2}, built)

	// a's first conflict replaces its identical example.
	built = nil
	record(testOffender("m", "across_series", origin("a"), 1, 0, 3*time.Minute))
	require.Equal(t, []int{0}, built)
	got, _ := s.List("team-a", Filter{Origin: origin("a")})
	require.Len(t, got, 1)
	require.Equal(t, int64(3*time.Minute/time.Millisecond), got[0].Example.TimestampMs)
}

func TestStoreKeysOffenders(t *testing.T) {
	s := NewStore(10, prometheus.NewRegistry())
	s.Record([]*Offender{
		testOffender("m", "across_series", map[string]string{"job": "a"}, 1, 0, 0),
		testOffender("m", "across_series", map[string]string{"job": "a"}, 1, 0, 0),
		testOffender("m", "within_series", map[string]string{"job": "a"}, 1, 0, 0),
		testOffender("n", "across_series", map[string]string{"job": "a"}, 1, 0, 0),
		testOffender("m", "across_series", map[string]string{"job": "b"}, 1, 0, 0),
		testOffender("m", "across_series", map[string]string{"job": "a", "pod": "p"}, 1, 0, 0),
		testOffender("m", "across_series", map[string]string{}, 1, 0, 0),
		// Names and values must not run together in the key.
		testOffender("m", "across_series", map[string]string{"jo": "ba"}, 1, 0, 0),
	})
	got, _ := s.List("team-a", Filter{})
	require.Len(t, got, 7)
	require.Equal(t, int64(2), got[0].ConflictingSamples)
}

func TestStoreEvictsLeastRecentlySeen(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewStore(2, reg)
	origin := map[string]string{"job": "a"}
	s.Record([]*Offender{testOffender("a", "across_series", origin, 1, 0, 0)})
	s.Record([]*Offender{testOffender("b", "across_series", origin, 9, 0, time.Second)})
	s.Record([]*Offender{testOffender("a", "across_series", origin, 1, 0, 2*time.Second)})
	// b, the least recently seen, goes, however conflicting it is.
	s.Record([]*Offender{testOffender("c", "across_series", origin, 1, 0, 3*time.Second)})

	got, evicted := s.List("team-a", Filter{})
	require.ElementsMatch(t, []string{"a", "c"}, metricsOf(got))
	require.Equal(t, int64(1), evicted)

	// One request with more new offenders than room evicts several.
	s.Record([]*Offender{
		testOffender("d", "across_series", origin, 1, 0, 4*time.Second),
		testOffender("e", "across_series", origin, 1, 0, 4*time.Second),
		testOffender("f", "across_series", origin, 1, 0, 4*time.Second),
	})
	got, evicted = s.List("team-a", Filter{})
	require.ElementsMatch(t, []string{"e", "f"}, metricsOf(got))
	require.Equal(t, int64(4), evicted)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP pushguard_offenders_evicted_total Offenders evicted from the report because the tenant's store or the whole store was full.
# TYPE pushguard_offenders_evicted_total counter
pushguard_offenders_evicted_total{tenant="team-a"} 4
# HELP pushguard_offenders Offenders currently held in the report.
# TYPE pushguard_offenders gauge
pushguard_offenders{tenant="team-a"} 2
`), "pushguard_offenders_evicted_total", "pushguard_offenders"))
}

func TestStoreIsolatesTenants(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewStore(1, reg)
	origin := map[string]string{"job": "a"}
	s.Record([]*Offender{
		forTenant(testOffender("x", "across_series", origin, 1, 0, 0), "team-a"),
		forTenant(testOffender("z", "across_series", origin, 1, 0, 0), "team-b"),
		forTenant(testOffender("y", "across_series", origin, 1, 0, time.Second), "team-a"),
	})
	// The same key in another tenant is another offender.
	s.Record([]*Offender{forTenant(testOffender("z", "across_series", origin, 5, 0, time.Second), "team-c")})

	for tenant, want := range map[string]struct {
		metrics     []string
		conflicting int64
		evicted     int64
	}{
		"team-a": {[]string{"y"}, 1, 1},
		"team-b": {[]string{"z"}, 1, 0},
		"team-c": {[]string{"z"}, 5, 0},
		"nobody": {nil, 0, 0},
	} {
		got, evicted := s.List(tenant, Filter{})
		require.Equal(t, want.metrics, metricsOf(got), tenant)
		require.Equal(t, want.evicted, evicted, tenant)
		for _, o := range got {
			require.Equal(t, tenant, o.Tenant)
			require.Equal(t, want.conflicting, o.ConflictingSamples, tenant)
		}
	}

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP pushguard_offenders_evicted_total Offenders evicted from the report because the tenant's store or the whole store was full.
# TYPE pushguard_offenders_evicted_total counter
pushguard_offenders_evicted_total{tenant="team-a"} 1
pushguard_offenders_evicted_total{tenant="team-b"} 0
pushguard_offenders_evicted_total{tenant="team-c"} 0
`), "pushguard_offenders_evicted_total"))
}

func TestStoreDisabled(t *testing.T) {
	s := NewStore(0, prometheus.NewRegistry())
	s.Record([]*Offender{testOffender("m", "across_series", nil, 1, 0, 0)})
	got, evicted := s.List("team-a", Filter{})
	require.Empty(t, got)
	require.Zero(t, evicted)
}

func TestStoreList(t *testing.T) {
	s := NewStore(10, prometheus.NewRegistry())
	origin := map[string]string{"job": "a"}
	s.Record([]*Offender{
		testOffender("m1", "within_series", origin, 5, 0, 0),
		// Recorded before m1/across_series but seen later (a slow push).
		testOffender("m3", "across_series", origin, 0, 9, time.Second),
		testOffender("m1", "across_series", origin, 0, 9, 0),
		testOffender("m2", "across_series", origin, 5, 3, 0),
		testOffender("m4", "within_series", origin, 7, 0, 0),
	})
	for name, tc := range map[string]struct {
		f    Filter
		want []string // metric/kind, in order
	}{
		"most conflicting, then most identical, then last seen": {
			want: []string{"m4/within_series", "m2/across_series", "m1/within_series", "m3/across_series", "m1/across_series"},
		},
		"metric":                  {f: Filter{Metric: "m1"}, want: []string{"m1/within_series", "m1/across_series"}},
		"kind":                    {f: Filter{Kind: "within_series"}, want: []string{"m4/within_series", "m1/within_series"}},
		"metric and kind":         {f: Filter{Metric: "m1", Kind: "across_series"}, want: []string{"m1/across_series"}},
		"limit keeps the worst":   {f: Filter{Limit: 2}, want: []string{"m4/within_series", "m2/across_series"}},
		"limit after filters":     {f: Filter{Kind: "across_series", Limit: 1}, want: []string{"m2/across_series"}},
		"limit over the count":    {f: Filter{Metric: "m1", Limit: 10}, want: []string{"m1/within_series", "m1/across_series"}},
		"nothing matches":         {f: Filter{Metric: "nope"}},
		"unknown kind":            {f: Filter{Kind: "across_requests"}},
		"negative limit is unset": {f: Filter{Metric: "m3", Limit: -1}, want: []string{"m3/across_series"}},
	} {
		t.Run(name, func(t *testing.T) {
			got, _ := s.List("team-a", tc.f)
			var keys []string
			for _, o := range got {
				keys = append(keys, o.Metric+"/"+o.Kind)
			}
			require.Equal(t, tc.want, keys)
		})
	}

	t.Run("returns copies", func(t *testing.T) {
		got, _ := s.List("team-a", Filter{Metric: "m4"})
		got[0].ConflictingSamples = 1000
		got, _ = s.List("team-a", Filter{Metric: "m4"})
		require.Equal(t, int64(7), got[0].ConflictingSamples)
	})
}

func TestStoreGlobalBound(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewStore(10, reg, WithMaxOffenders(2), WithClock(func() time.Time { return storeEpoch }))
	origin := map[string]string{"job": "a"}
	s.Record([]*Offender{forTenant(testOffender("a", "across_series", origin, 1, 0, 0), "t1")})
	s.Record([]*Offender{forTenant(testOffender("b", "across_series", origin, 1, 0, time.Second), "t2")})
	s.Record([]*Offender{forTenant(testOffender("c", "across_series", origin, 1, 0, 2*time.Second), "t2")})

	all, evicted := s.ListAll(Filter{})
	require.Equal(t, []string{"c", "b"}, metricsOf(all), "t1's offender was the least recently seen of all")
	require.EqualValues(t, 1, evicted)
	got, t1Evicted := s.List("t1", Filter{})
	require.Empty(t, got)
	require.EqualValues(t, 1, t1Evicted, "a forgotten tenant's report still says what it lost")
	st := s.Stats()
	require.Equal(t, []string{"t2"}, st.Tenants, "an emptied tenant is forgotten")

	only, t2Evicted := s.ListAll(Filter{Tenant: "t2", Metric: "b"})
	require.Len(t, only, 1)
	require.Zero(t, t2Evicted, "filtered to a tenant, the count is that tenant's evictions, not the store's")
	_, t1Evicted = s.ListAll(Filter{Tenant: "t1"})
	require.EqualValues(t, 1, t1Evicted, "and a forgotten tenant's too")
	o, ok := s.Get("t2", only[0].ID)
	require.True(t, ok)
	require.Equal(t, "b", o.Metric)
	require.Len(t, o.PerMinute, HistoryMinutes)
	require.EqualValues(t, 1, o.PerMinute[HistoryMinutes-1])
	_, ok = s.Get("t1", only[0].ID)
	require.False(t, ok, "IDs are per tenant")

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP pushguard_offenders Offenders currently held in the report.
# TYPE pushguard_offenders gauge
pushguard_offenders{tenant="t2"} 2
# HELP pushguard_offenders_evicted_total Offenders evicted from the report because the tenant's store or the whole store was full.
# TYPE pushguard_offenders_evicted_total counter
pushguard_offenders_evicted_total{tenant="t1"} 1
pushguard_offenders_evicted_total{tenant="t2"} 0
`), "pushguard_offenders", "pushguard_offenders_evicted_total"))

	// Back, t1 counts on from what it lost before.
	s.Record([]*Offender{forTenant(testOffender("d", "across_series", origin, 1, 0, 3*time.Second), "t1")})
	got, t1Evicted = s.List("t1", Filter{})
	require.Equal(t, []string{"d"}, metricsOf(got))
	require.EqualValues(t, 1, t1Evicted)
	s.Record([]*Offender{forTenant(testOffender("e", "across_series", origin, 1, 0, 4*time.Second), "t2")})
	s.Record([]*Offender{forTenant(testOffender("f", "across_series", origin, 1, 0, 5*time.Second), "t2")})
	_, t1Evicted = s.List("t1", Filter{})
	require.EqualValues(t, 2, t1Evicted)
}

func TestStoreFilterByOrigin(t *testing.T) {
	s := NewStore(10, prometheus.NewRegistry())
	s.Record([]*Offender{
		testOffender("m", "across_series", map[string]string{"job": "ksm", "namespace": "a"}, 1, 0, 0),
		testOffender("m", "across_series", map[string]string{"job": "ksm", "namespace": "b"}, 2, 0, 0),
		testOffender("m", "across_series", map[string]string{"job": "node"}, 3, 0, 0),
	})
	got, _ := s.List("team-a", Filter{Origin: map[string]string{"job": "ksm"}})
	require.Len(t, got, 2)
	got, _ = s.List("team-a", Filter{Origin: map[string]string{"job": "ksm", "namespace": "b"}})
	require.Len(t, got, 1)
	require.EqualValues(t, 2, got[0].ConflictingSamples)
}

// Forget drops a tenant's offenders from its own list and the list across
// tenants, with its series; the others keep theirs, and the bound across
// tenants still evicts in order after.
func TestStoreForget(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewStore(10, reg, WithMaxOffenders(3), WithClock(func() time.Time { return storeEpoch }))
	origin := map[string]string{"job": "a"}
	s.Record([]*Offender{forTenant(testOffender("a", "across_series", origin, 1, 0, 0), "t1")})
	s.Record([]*Offender{forTenant(testOffender("b", "across_series", origin, 1, 0, time.Second), "t2")})
	s.Record([]*Offender{forTenant(testOffender("c", "across_series", origin, 1, 0, 2*time.Second), "t1")})
	s.Forget("t1")
	s.Forget("never-seen")
	all, _ := s.ListAll(Filter{})
	require.Equal(t, []string{"b"}, metricsOf(all))
	require.Equal(t, StoreStats{Offenders: 1, Tenants: []string{"t2"}, MaxPerTenant: 10, MaxTotal: 3}, s.Stats())

	for i, m := range []string{"d", "e", "f"} {
		s.Record([]*Offender{forTenant(testOffender(m, "across_series", origin, 1, 0, time.Duration(3+i)*time.Second), "t3")})
	}
	all, _ = s.ListAll(Filter{})
	require.Equal(t, []string{"d", "e", "f"}, sortedMetrics(all), "b, the least recently seen left, went first")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP pushguard_offenders Offenders currently held in the report.
# TYPE pushguard_offenders gauge
pushguard_offenders{tenant="t3"} 3
# HELP pushguard_offenders_evicted_total Offenders evicted from the report because the tenant's store or the whole store was full.
# TYPE pushguard_offenders_evicted_total counter
pushguard_offenders_evicted_total{tenant="t2"} 1
pushguard_offenders_evicted_total{tenant="t3"} 0
`), "pushguard_offenders", "pushguard_offenders_evicted_total"))
}

func sortedMetrics(os []Offender) []string {
	out := metricsOf(os)
	slices.Sort(out)
	return out
}
