package validator

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

const benchRecordSeries = 1_000_000

func benchKeys(n int) []uint64 {
	rng := rand.New(rand.NewPCG(7, 8))
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = recordKey(TenantHash("team-a"), rng.Uint64())
	}
	return keys
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// filledRecord returns a record of 1M series, as many as it may hold, and
// the heap bytes it takes per series.
func filledRecord(b *testing.B) (*SeriesRecord, []uint64, float64) {
	keys := benchKeys(benchRecordSeries)
	before := heapInUse()
	sr := NewSeriesRecord(benchRecordSeries, time.Hour, prometheus.NewRegistry())
	for i, k := range keys {
		sr.Put(k, float(int64(i), uint64(i)), t0)
	}
	perSeries := float64(heapInUse()-before) / float64(sr.Len())
	return sr, keys, perSeries
}

// BenchmarkSeriesRecordPut is the write after an accepted push: every series
// of a 1M-series record forwarded again with a newer timestamp.
func BenchmarkSeriesRecordPut(b *testing.B) {
	sr, keys, perSeries := filledRecord(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sr.Put(keys[i%len(keys)], float(int64(benchRecordSeries+i), 1), t0)
		i++
	}
	// After the loop: b.Loop resets the timer, which drops extra metrics.
	b.ReportMetric(perSeries, "heap-B/series")
	b.ReportMetric(float64(sr.Bytes())/float64(sr.Len()), "table-B/series")
	b.ReportMetric(float64(sr.Len()), "series")
}

// BenchmarkSeriesRecordGet is the lookup of a push's series, half of them
// known.
func BenchmarkSeriesRecordGet(b *testing.B) {
	sr, keys, _ := filledRecord(b)
	rng := rand.New(rand.NewPCG(9, 10))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i%len(keys)]
		if i&1 == 1 {
			k = rng.Uint64() | 1
		}
		sr.Get(k, t0)
		i++
	}
}

// BenchmarkSeriesRecordChurn inserts series never seen before into a full
// record: every Put evicts one.
func BenchmarkSeriesRecordChurn(b *testing.B) {
	sr, _, _ := filledRecord(b)
	rng := rand.New(rand.NewPCG(11, 12))
	b.ReportAllocs()
	for b.Loop() {
		sr.Put(rng.Uint64()|1, float(1, 1), t0)
	}
}

// newInspectAcrossBench is the inspection bench with the record on: every
// series of the request was forwarded a scrape earlier, and 0.1% of them
// at the request's own timestamp, so they repeat across requests.
func newInspectAcrossBench(tb testing.TB) *inspectBench {
	ib := newInspectBench(tb, benchDupsDefault)
	ib.record = NewSeriesRecord(benchRecordSeries, time.Hour, prometheus.NewRegistry())
	ib.tenantHash = TenantHash("team-a")
	heads := 0
	for g := range ib.res.Group {
		if int(ib.res.Group[g]) != g {
			continue
		}
		ts := int64(benchScrapeMs - 30_000)
		if heads%1000 == 0 {
			ts = benchScrapeMs
		}
		heads++
		ib.record.Put(recordKey(ib.tenantHash, ib.res.Hashes[g]), float(ts, 0), t0)
	}
	require.NoError(tb, ib.run())
	require.Len(tb, ib.res.Duplicates, benchDupsDefault+(heads+999)/1000)
	return ib
}

func TestInspectAcrossDoesNotAllocate(t *testing.T) {
	ib := newInspectAcrossBench(t)
	allocs := testing.AllocsPerRun(20, func() {
		if err := ib.run(); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

// BenchmarkInspectAcrossRequests is BenchmarkInspect plus the record
// lookup of every series.
func BenchmarkInspectAcrossRequests(b *testing.B) {
	ib := newInspectAcrossBench(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(ib.body)))
	for b.Loop() {
		if err := ib.run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAccepted is the record update after the upstream accepted a
// 2,000-series push.
func BenchmarkAccepted(b *testing.B) {
	ib := newInspectAcrossBench(b)
	var p Patch
	p.Plan(&ib.req, &ib.res, StaticPolicy(ActionReport))
	b.ReportAllocs()
	for b.Loop() {
		ib.record.Accepted(ib.tenantHash, &ib.req, &ib.res, &p, t0)
	}
}

// BenchmarkRecordPush is the record's part of one 2,000-series push, in a
// record of 1M series: every series looked up before forwarding and updated
// after. Each push has other series, so that most accesses miss the CPU
// caches, as in production. per-series takes a shard lock for each access,
// as Get and Put do; batched visits each shard once, as a push does.
// pipelined is batched with the update of each push made after the lookups
// of the next 31, as when pushes wait for the upstream in between: its
// updates find their slots evicted from the caches too. settled looks up
// and updates each series in one visit, as a push its tenant only reports
// is settled.
func BenchmarkRecordPush(b *testing.B) {
	sr, keys, _ := filledRecord(b)
	rng := rand.New(rand.NewPCG(13, 14))
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	pushes := len(keys) / benchSeries
	pushKeys := func(i int) []uint64 {
		p := i % pushes
		return keys[p*benchSeries : (p+1)*benchSeries]
	}
	b.Run("per-series", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			for _, k := range pushKeys(i) {
				sr.Get(k, t0)
			}
			for _, k := range pushKeys(i) {
				sr.Put(k, float(int64(benchRecordSeries+i), 1), t0)
			}
		}
	})
	// A push's update comes after the lookups of inFlight-1 others.
	for _, c := range []struct {
		name     string
		inFlight int
	}{{"batched", 1}, {"pipelined", 32}} {
		b.Run(c.name, func(b *testing.B) {
			bts := make([]recordBatch, c.inFlight)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				bt := &bts[i%c.inFlight]
				if bt.keys != nil {
					sr.putBatch(bt, t0, false)
				}
				bt.keys = pushKeys(i)
				sr.arrange(bt)
				sr.getBatch(bt, t0)
				for k := range bt.put {
					bt.put[k] = true
					bt.next[k] = float(int64(benchRecordSeries+i), 1)
				}
			}
		})
	}
	b.Run("settled", func(b *testing.B) {
		var bt recordBatch
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			bt.keys = pushKeys(i)
			sr.arrange(&bt)
			for k := range bt.put {
				bt.put[k] = true
				bt.next[k] = float(int64(benchRecordSeries+i), 1)
			}
			sr.putBatch(&bt, t0, true)
		}
	})
}
