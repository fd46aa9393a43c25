package validator

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func float(ts int64, bits uint64) Latest { return Latest{TimestampMs: ts, Value: bits} }

// requireConsistent checks the table's invariants: every entry is found
// from its home slot, and count is the number of entries.
func requireConsistent(t *testing.T, sr *SeriesRecord) {
	t.Helper()
	for s := range sr.shards {
		sh := &sr.shards[s]
		n := 0
		for i, sl := range sh.slots {
			if sl.key == 0 {
				continue
			}
			n++
			// Plain ifs: require's reflection is slow over big tables.
			if sh.find(sl.key) != i {
				t.Fatalf("entry %x not reachable from its home", sl.key)
			}
			if sr.shard(sl.key) != sh {
				t.Fatalf("entry %x in the wrong shard", sl.key)
			}
		}
		require.Equal(t, n, sh.count)
		require.LessOrEqual(t, sh.count, sh.max)
	}
}

func TestSeriesRecordKeepsLatest(t *testing.T) {
	sr := NewSeriesRecord(100, time.Minute, prometheus.NewRegistry())
	_, ok := sr.Get(1, t0)
	require.False(t, ok)

	sr.Put(1, float(1000, 10), t0)
	got, ok := sr.Get(1, t0)
	require.True(t, ok)
	require.Equal(t, float(1000, 10), got)

	sr.Put(1, float(500, 11), t0)
	got, _ = sr.Get(1, t0)
	require.Equal(t, float(1000, 10), got, "an older timestamp does not replace the latest")

	sr.Put(1, float(1000, 12), t0)
	got, _ = sr.Get(1, t0)
	require.Equal(t, float(1000, 10), got, "at an equal timestamp the value accepted first stays")

	h := Latest{TimestampMs: 2000, Value: 99, Histogram: true}
	sr.Put(1, h, t0)
	got, _ = sr.Get(1, t0)
	require.Equal(t, h, got, "a histogram is recorded as a histogram")

	sr.Put(1, float(3000, 13), t0)
	got, _ = sr.Get(1, t0)
	require.Equal(t, float(3000, 13), got, "and a float after it as a float")

	_, ok = sr.Get(2, t0)
	require.False(t, ok)
	require.Equal(t, 1, sr.Len())
}

func TestSeriesRecordKeysSeparateTenants(t *testing.T) {
	id := uint64(0xdeadbeef)
	a, b := recordKey(TenantHash("team-a"), id), recordKey(TenantHash("team-b"), id)
	require.NotEqual(t, a, b)
	require.Equal(t, a, recordKey(TenantHash("team-a"), id))
	require.NotZero(t, recordKey(0, 0))
}

func TestSeriesRecordTTL(t *testing.T) {
	reg := prometheus.NewRegistry()
	sr := newSeriesRecord(100, 10*time.Minute, 1, reg)
	sr.Put(1, float(1000, 1), t0)
	sr.Put(2, float(1000, 2), t0.Add(5*time.Minute))

	_, ok := sr.Get(1, t0.Add(10*time.Minute))
	require.True(t, ok, "still there at exactly the TTL")
	_, ok = sr.Get(1, t0.Add(10*time.Minute+time.Second))
	require.False(t, ok, "idle for longer than the TTL")

	// An expired series is replaced even by an older timestamp: what the
	// record knew of it no longer counts.
	late := t0.Add(11 * time.Minute)
	sr.Put(1, float(900, 3), late)
	got, ok := sr.Get(1, late)
	require.True(t, ok)
	require.Equal(t, float(900, 3), got)

	// The next write after a quarter TTL sweeps series 2, idle since t0+5m.
	sr.Put(3, float(1000, 4), t0.Add(16*time.Minute))
	require.Equal(t, 2, sr.Len())
	_, ok = sr.Get(2, t0.Add(16*time.Minute))
	require.False(t, ok)
	// Series 1 was swept (and recorded anew) at t0+11m, series 2 now.
	require.Equal(t, 2.0, testutil.ToFloat64(sr.evictedTTL))
	require.Zero(t, testutil.ToFloat64(sr.evictedCapacity))
	requireConsistent(t, sr)
}

func TestSeriesRecordCap(t *testing.T) {
	for name, tc := range map[string]struct {
		maxSeries, shards, inserts int
	}{
		"one shard": {100, 1, 1000},
		// NewSeriesRecord's own shard count: 3 shards, whatever a shard holds.
		"many shards":  {3*minSeriesPerShard + 1000, 0, 3 * (3*minSeriesPerShard + 1000)},
		"cap under 16": {3, 1, 50},
	} {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			var sr *SeriesRecord
			if tc.shards == 0 {
				sr = NewSeriesRecord(tc.maxSeries, time.Hour, reg)
			} else {
				sr = newSeriesRecord(tc.maxSeries, time.Hour, tc.shards, reg)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for range tc.inserts {
				sr.Put(rng.Uint64()|1, float(1, 1), t0)
			}
			require.LessOrEqual(t, sr.Len(), tc.maxSeries)
			require.Equal(t, float64(tc.inserts-sr.Len()), testutil.ToFloat64(sr.evictedCapacity))
			require.NoError(t, testutil.GatherAndCompare(reg, newMetricReader(
				"pushguard_cross_request_series", sr.Len()), "pushguard_cross_request_series"))
			requireConsistent(t, sr)
		})
	}
}

func newMetricReader(name string, v int) *strings.Reader {
	return strings.NewReader("# HELP " + name + " Series held in the cross-request record.\n# TYPE " + name + " gauge\n" + name + " " + strconv.Itoa(v) + "\n")
}

// TestSeriesRecordEvictionOrder: when full, the least recently forwarded
// series goes first.
func TestSeriesRecordEvictionOrder(t *testing.T) {
	reg := prometheus.NewRegistry()
	sr := newSeriesRecord(4, time.Hour, 1, reg)
	for _, k := range []uint64{11, 22, 33, 44} {
		sr.Put(k, float(1, k), t0)
	}
	for _, k := range []uint64{11, 33, 44} {
		sr.Put(k, float(2, k), t0.Add(time.Second))
	}
	sr.Put(55, float(1, 55), t0.Add(2*time.Second))
	_, ok := sr.Get(22, t0)
	require.False(t, ok, "the series forwarded longest ago is evicted")
	for _, k := range []uint64{11, 33, 44, 55} {
		_, ok := sr.Get(k, t0)
		require.True(t, ok, "series %d", k)
	}

	// Next go the ones forwarded at t0+1s, not the one just added.
	sr.Put(66, float(1, 66), t0.Add(3*time.Second))
	_, ok = sr.Get(55, t0)
	require.True(t, ok)
	present := 0
	for _, k := range []uint64{11, 33, 44} {
		if _, ok := sr.Get(k, t0); ok {
			present++
		}
	}
	require.Equal(t, 2, present)
	require.Equal(t, 2.0, testutil.ToFloat64(sr.evictedCapacity))

	// Past the TTL the next write sweeps every idle series, without
	// counting them as capacity evictions.
	later := t0.Add(2 * time.Hour)
	for _, k := range []uint64{55, 66} {
		sr.Put(k, float(3, k), later)
	}
	require.Equal(t, 2, sr.Len())
	require.Equal(t, 4.0, testutil.ToFloat64(sr.evictedTTL))
	require.Equal(t, 2.0, testutil.ToFloat64(sr.evictedCapacity))
	requireConsistent(t, sr)
}

// TestSeriesRecordMatchesModel drives a small table through random puts,
// expiries and evictions, where deletion shifts entries across the table's
// end, and checks it against a map.
func TestSeriesRecordMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sr := newSeriesRecord(40, 4*time.Second, 1, prometheus.NewRegistry())
	model := map[uint64]Latest{}
	now := t0
	for step := range 5000 {
		if step%50 == 0 {
			now = now.Add(time.Second)
		}
		// The record holds a subset of the model, with its values.
		for mk, ml := range model {
			got, ok := sr.Get(mk, now)
			if !ok {
				delete(model, mk) // evicted or expired: forgotten for good
				continue
			}
			require.Equal(t, ml, got, "key %d at step %d", mk, step)
		}
		k := uint64(rng.IntN(80) + 1)
		l := float(int64(rng.IntN(100)), rng.Uint64())
		sr.Put(k, l, now)
		if old, ok := model[k]; !ok || l.TimestampMs > old.TimestampMs {
			model[k] = l
		}
		if step%97 == 0 {
			requireConsistent(t, sr)
		}
	}
	require.LessOrEqual(t, sr.Len(), 40)
	requireConsistent(t, sr)
}

func TestSeriesRecordMemoryPerSeries(t *testing.T) {
	require.Equal(t, 32, SlotBytes)
	const n = 200_000
	sr := NewSeriesRecord(n, time.Hour, prometheus.NewRegistry())
	rng := rand.New(rand.NewPCG(5, 6))
	for range n {
		sr.Put(rng.Uint64()|1, float(1, 1), t0)
	}
	perSeries := float64(sr.Bytes()) / float64(sr.Len())
	t.Logf("%d series, %.1f bytes/series", sr.Len(), perSeries)
	require.LessOrEqual(t, perSeries, 64.0)
}

// Sweep drops idle series from every shard, including those no push
// writes to.
func TestSeriesRecordSweep(t *testing.T) {
	reg := prometheus.NewRegistry()
	sr := newSeriesRecord(1000, 10*time.Minute, 4, reg)
	for k := uint64(1); k <= 100; k++ {
		sr.Put(k, float(1000, k), t0)
	}
	sr.Put(101, float(1000, 101), t0.Add(5*time.Minute))
	sr.Sweep(t0.Add(10 * time.Minute))
	require.Equal(t, 101, sr.Len(), "none idle for longer than the TTL")
	sr.Sweep(t0.Add(10*time.Minute + 3*time.Minute))
	require.Equal(t, 1, sr.Len())
	require.Equal(t, 100.0, testutil.ToFloat64(sr.evictedTTL))
	_, ok := sr.Get(101, t0.Add(13*time.Minute))
	require.True(t, ok)
	requireConsistent(t, sr)
}
