package validator

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestRecordBatchMatchesModel runs pushes through the batched lookup and
// update while other pushes change the record between the two, so that the
// slots the lookup found are often stale (the table grew, idle entries were
// swept and others shifted back), and every third push through the lookup
// and update in one pass: the record must still hold what a map would.
// Eviction for capacity is TestSeriesRecordMatchesModel's.
func TestRecordBatchMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	sr := newSeriesRecord(1000, 4*time.Second, 4, prometheus.NewRegistry())
	model := map[uint64]Latest{}
	now := t0
	var b recordBatch
	seen := map[uint64]bool{}
	stale := 0
	for step := range 400 {
		if step%20 == 0 {
			now = now.Add(time.Second)
			for k := range model {
				if _, ok := sr.Get(k, now); !ok {
					delete(model, k) // idle for longer than the TTL
				}
			}
		}
		// A push of up to 60 distinct series out of 600.
		b.keys = b.keys[:0]
		clear(seen)
		for range rng.IntN(60) + 1 {
			k := recordKey(TenantHash("a"), uint64(rng.IntN(600)))
			if !seen[k] {
				seen[k] = true
				b.keys = append(b.keys, k)
			}
		}
		sr.arrange(&b)
		// Every third push is settled in one pass: looked up and updated
		// at once.
		settled := step%3 == 2
		if settled {
			for i := range b.keys {
				b.put[i] = rng.IntN(4) > 0
				b.next[i] = float(int64(rng.IntN(100)), rng.Uint64())
			}
			sr.putBatch(&b, now, true)
			checkFound(t, &b, model, step)
			putModel(&b, model)
		} else {
			sr.getBatch(&b, now)
			checkFound(t, &b, model, step)
		}
		// Other pushes land while this one is forwarded.
		for range rng.IntN(40) {
			k := recordKey(TenantHash("a"), uint64(rng.IntN(600)))
			l := float(int64(rng.IntN(100)), rng.Uint64())
			sr.Put(k, l, now)
			if old, ok := model[k]; !ok || l.TimestampMs > old.TimestampMs {
				model[k] = l
			}
		}
		if settled {
			requireModel(t, sr, model, now, step)
			continue
		}
		for i, k := range b.keys {
			if h := b.hint[i]; h >= 0 {
				if sh := sr.shard(k); int(h) >= len(sh.slots) || sh.slots[h].key != k {
					stale++
				}
			}
			b.put[i] = rng.IntN(4) > 0
			b.next[i] = float(int64(rng.IntN(100)), rng.Uint64())
		}
		sr.putBatch(&b, now, false)
		putModel(&b, model)
		requireModel(t, sr, model, now, step)
	}
	require.Positive(t, stale, "the test never exercised a stale slot")
}

// checkFound checks a batch's lookup against the model.
func checkFound(t *testing.T, b *recordBatch, model map[uint64]Latest, step int) {
	t.Helper()
	for i, k := range b.keys {
		ml, inModel := model[k]
		require.Equal(t, inModel, b.found[i], "key %d at step %d", k, step)
		if inModel {
			require.Equal(t, ml, b.latest[i], "key %d at step %d", k, step)
		}
	}
}

// putModel applies a batch's update to the model.
func putModel(b *recordBatch, model map[uint64]Latest) {
	for i, k := range b.keys {
		if !b.put[i] {
			continue
		}
		l := b.next[i]
		if old, ok := model[k]; !ok || l.TimestampMs > old.TimestampMs {
			model[k] = l
		}
	}
}

// requireModel checks that the record holds what the model does.
func requireModel(t *testing.T, sr *SeriesRecord, model map[uint64]Latest, now time.Time, step int) {
	t.Helper()
	requireConsistent(t, sr)
	require.Equal(t, len(model), sr.Len())
	for k, ml := range model {
		got, ok := sr.Get(k, now)
		require.True(t, ok, "key %d after step %d", k, step)
		require.Equal(t, ml, got, "key %d after step %d", k, step)
	}
}

// TestRecordBatchVisitsEveryKeyOnce checks the grouping by shard: every
// key of a push appears once, under its own shard.
func TestRecordBatchVisitsEveryKeyOnce(t *testing.T) {
	sr := newSeriesRecord(10_000, time.Minute, 16, prometheus.NewRegistry())
	var b recordBatch
	for i := range 1000 {
		b.keys = append(b.keys, recordKey(TenantHash("a"), uint64(i)))
	}
	sr.arrange(&b)
	visits := make([]int, len(b.keys))
	start := int32(0)
	for s, end := range b.shardEnd {
		for _, i := range b.order[start:end] {
			require.Equal(t, s, sr.shardIndex(b.keys[i]))
			visits[i]++
		}
		start = end
	}
	for i, v := range visits {
		require.Equal(t, 1, v, "key %d", i)
	}
}
