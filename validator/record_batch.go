package validator

import "time"

// recordBatch is one push's access to the record: the keys of its identity
// groups, visited shard by shard, so that the push takes each shard's lock
// once rather than once per series, and the lookups within a shard run
// back to back. It lives in the push's Result and is reused.
type recordBatch struct {
	tenantHash uint64
	ready      bool // keys and order are built for this request

	// keys[i] is the record key of identity group group[i], in request
	// order.
	keys  []uint64
	group []int32
	// hint[i] is the slot where the lookup found keys[i], or -1: the update
	// after forwarding tries it before probing.
	hint []int32
	// order lists indexes into keys grouped by shard; shardEnd[s] is where
	// shard s's run in order ends.
	order    []int32
	shardEnd []int32

	// Filled by the lookup: found[i] says whether latest[i] holds what
	// the record had for keys[i].
	found  []bool
	latest []Latest
	// Set before the update: put[i] says whether next[i] is to be
	// recorded for keys[i].
	put  []bool
	next []Latest

	// sink keeps touch's loads from being optimised away.
	sink uint64
}

// touch loads the home slot of each of keys, with no branch on what it
// reads, so that the CPU fetches their cache lines in parallel before the
// probes that follow take them one by one.
func (b *recordBatch) touch(sh *recordShard, keys []int32) {
	n := len(sh.slots)
	if n == 0 {
		return
	}
	var x uint64
	for _, i := range keys {
		x ^= sh.slots[home(b.keys[i], n)].key
	}
	b.sink ^= x
}

// prepare builds b for the identity groups of res, unless it already was
// for this request and tenant.
func (sr *SeriesRecord) prepare(b *recordBatch, tenantHash uint64, res *Result) {
	if b.ready && b.tenantHash == tenantHash {
		return
	}
	b.ready, b.tenantHash = true, tenantHash
	b.keys, b.group = b.keys[:0], b.group[:0]
	for g := range res.Group {
		if int(res.Group[g]) != g {
			continue
		}
		b.keys = append(b.keys, recordKey(tenantHash, res.Hashes[g]))
		b.group = append(b.group, int32(g))
	}
	sr.arrange(b)
}

// arrange sizes b's buffers for its keys and groups the keys by shard.
func (sr *SeriesRecord) arrange(b *recordBatch) {
	n := len(b.keys)
	b.hint = resize(b.hint, n)
	for i := range b.hint {
		b.hint[i] = -1
	}
	b.found = resizeCleared(b.found, n)
	b.put = resizeCleared(b.put, n)
	b.latest = resize(b.latest, n)
	b.next = resize(b.next, n)

	// A counting sort of the keys by shard.
	shards := len(sr.shards)
	b.shardEnd = resize(b.shardEnd, shards)
	clear(b.shardEnd)
	for _, k := range b.keys {
		b.shardEnd[sr.shardIndex(k)]++
	}
	sum := int32(0)
	for s := range b.shardEnd {
		sum += b.shardEnd[s]
		b.shardEnd[s] = sum - b.shardEnd[s] // the run's start, for now
	}
	b.order = resize(b.order, n)
	for i, k := range b.keys {
		s := sr.shardIndex(k)
		b.order[b.shardEnd[s]] = int32(i)
		b.shardEnd[s]++
	}
}

// reset forgets the request b was built for.
func (b *recordBatch) reset() { b.ready = false }

// eachShard calls f with every shard that holds keys of b, and the indexes
// of those keys.
func (sr *SeriesRecord) eachShard(b *recordBatch, f func(sh *recordShard, keys []int32)) {
	start := int32(0)
	for s, end := range b.shardEnd {
		if start < end {
			f(&sr.shards[s], b.order[start:end])
		}
		start = end
	}
}

// getBatch looks up every key of b, filling found, latest and hint.
func (sr *SeriesRecord) getBatch(b *recordBatch, now time.Time) {
	t := unixSeconds(now)
	sr.eachShard(b, func(sh *recordShard, keys []int32) {
		sh.mu.RLock()
		defer sh.mu.RUnlock()
		b.touch(sh, keys)
		for _, i := range keys {
			sr.lookup(sh, b, i, t)
		}
	})
}

// lookup looks key i of b up in sh, which the caller holds locked, and
// fills found[i], latest[i] and hint[i].
func (sr *SeriesRecord) lookup(sh *recordShard, b *recordBatch, i int32, t uint32) {
	j := sh.find(b.keys[i])
	b.hint[i] = int32(j)
	b.found[i] = j >= 0 && !sr.expired(&sh.slots[j], t)
	if b.found[i] {
		b.latest[i] = sh.slots[j].latest()
	}
}

// putBatch records next[i] for every key of b whose put[i] is set. With
// lookup it looks each key up first, filling found and latest as getBatch
// does, in the same visit of its slot: its cache line is loaded once.
func (sr *SeriesRecord) putBatch(b *recordBatch, now time.Time, lookup bool) {
	t := unixSeconds(now)
	sr.eachShard(b, func(sh *recordShard, keys []int32) {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		sr.sweepIfDue(sh, t)
		if lookup {
			b.touch(sh, keys)
		}
		for _, i := range keys {
			if lookup {
				sr.lookup(sh, b, i, t)
			}
			if b.put[i] {
				sr.putLocked(sh, b.keys[i], b.next[i], t, int(b.hint[i]))
			}
		}
	})
}
