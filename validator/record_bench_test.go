package validator

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
