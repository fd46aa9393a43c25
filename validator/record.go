package validator

import (
	"flag"
	"fmt"
	"math/bits"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// CrossRequestConfig configures the record of recently forwarded series
// behind the across_requests kind.
type CrossRequestConfig struct {
	Enabled   bool          `yaml:"enabled"`
	MaxSeries int           `yaml:"max_series"`
	TTL       time.Duration `yaml:"ttl"`
}

// RegisterFlags registers the cross-request flags.
func (cfg *CrossRequestConfig) RegisterFlags(f *flag.FlagSet) {
	f.BoolVar(&cfg.Enabled, "validator.cross-request.enabled", true, "Remember the latest sample forwarded for each series, to find samples that repeat a timestamp already sent in an earlier request (kind across_requests).")
	f.IntVar(&cfg.MaxSeries, "validator.cross-request.max-series", 1_000_000, "Maximum series remembered for across_requests detection, for all tenants of this instance together (40 to 60 bytes each); the least recently forwarded are evicted first.")
	f.DurationVar(&cfg.TTL, "validator.cross-request.ttl", 10*time.Minute, "How long a series nothing was forwarded for stays remembered for across_requests detection. Keep it above the longest scrape or rule evaluation interval and the senders' retry time.")
}

// Validate checks the configuration.
func (cfg *CrossRequestConfig) Validate() error {
	if !cfg.Enabled {
		return nil
	}
	if cfg.MaxSeries <= 0 {
		return fmt.Errorf("-validator.cross-request.max-series must be positive")
	}
	if cfg.TTL < time.Second {
		return fmt.Errorf("-validator.cross-request.ttl must be at least 1s")
	}
	return nil
}

// Latest is what the record keeps of a series: its latest forwarded
// timestamp and the value forwarded at it.
type Latest struct {
	TimestampMs int64
	// Value holds the float's bits (math.Float64bits), or for a native
	// histogram the hash of its encoded message.
	Value     uint64
	Histogram bool
}

// slot is one entry of a shard's open-addressing table: 32 bytes.
type slot struct {
	key     uint64 // 0 marks an empty slot
	ts      int64
	value   uint64
	touched uint32 // unix seconds of the last accepted forward
	flags   uint8
}

const slotHistogram uint8 = 1

// SlotBytes is the size of one table slot.
const SlotBytes = int(unsafe.Sizeof(slot{}))

const (
	maxRecordShards = 256
	// A shard holds at least this many series before another shard is
	// added, so the per-shard caps add up to max-series closely.
	minSeriesPerShard = 32768
	// Linear probing stays short up to this load (4/5).
	maxLoadNum, maxLoadDen = 4, 5
	minTableLen            = 16
	// A full shard evicts the least recently forwarded of this many series.
	evictionSample = 8
)

// SeriesRecord remembers, per (tenant, series identity), the latest sample
// the upstream accepted. It is sharded by key; each shard is an
// open-addressing table of fixed-size slots keyed by a 64-bit hash, capped
// at its share of the instance's maximum. A full shard evicts an
// approximation of the least recently forwarded series, and every shard
// drops series idle for longer than the TTL.
type SeriesRecord struct {
	shards []recordShard
	ttl    int64 // seconds

	evictedCapacity prometheus.Counter
	evictedTTL      prometheus.Counter
}

type recordShard struct {
	mu        sync.RWMutex
	slots     []slot
	count     int
	max       int
	rng       uint64 // xorshift state choosing where to evict
	lastSweep uint32
	// Keeps neighbouring shards' locks off one cache line.
	_ [64]byte
}

// NewSeriesRecord returns a record of at most maxSeries series that forgets
// a series after ttl without a forward.
func NewSeriesRecord(maxSeries int, ttl time.Duration, reg prometheus.Registerer) *SeriesRecord {
	shards := min(max(maxSeries/minSeriesPerShard, 1), maxRecordShards)
	return newSeriesRecord(maxSeries, ttl, shards, reg)
}

func newSeriesRecord(maxSeries int, ttl time.Duration, shards int, reg prometheus.Registerer) *SeriesRecord {
	sr := &SeriesRecord{
		shards: make([]recordShard, shards),
		ttl:    int64(max(ttl/time.Second, 1)),
	}
	for i := range sr.shards {
		sr.shards[i].rng = uint64(i+1) * 0x9e3779b97f4a7c15
		sr.shards[i].max = maxSeries / shards
		if i < maxSeries%shards {
			sr.shards[i].max++
		}
	}
	evictions := promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
		Namespace: "pushguard",
		Name:      "cross_request_evictions_total",
		Help:      "Series forgotten by the cross-request record, by reason: capacity (the record was full) or ttl (nothing forwarded for the series within the TTL).",
	}, []string{"reason"})
	sr.evictedCapacity = evictions.WithLabelValues("capacity")
	sr.evictedTTL = evictions.WithLabelValues("ttl")
	promauto.With(reg).NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "pushguard",
		Name:      "cross_request_series",
		Help:      "Series held in the cross-request record.",
	}, func() float64 { return float64(sr.Len()) })
	promauto.With(reg).NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "pushguard",
		Name:      "cross_request_memory_bytes",
		Help:      "Memory held by the cross-request record's tables.",
	}, func() float64 { return float64(sr.Bytes()) })
	return sr
}

// recordKey folds the tenant into a series' identity hash. The mix is a
// bijection of identity ^ f(tenant), so two keys collide only when the
// 64-bit hashes themselves do.
func recordKey(tenantHash, identity uint64) uint64 {
	k := identity ^ (tenantHash * 0x9e3779b97f4a7c15)
	// murmur3's fmix64 finaliser.
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	if k == 0 {
		k = 1
	}
	return k
}

func (sr *SeriesRecord) shard(key uint64) *recordShard {
	return &sr.shards[sr.shardIndex(key)]
}

func (sr *SeriesRecord) shardIndex(key uint64) int {
	hi, _ := bits.Mul64(key, uint64(len(sr.shards)))
	return int(hi)
}

// home is where key's probe sequence starts. It uses other bits of the key
// than the shard choice.
func home(key uint64, n int) int {
	hi, _ := bits.Mul64(bits.RotateLeft64(key, 32), uint64(n))
	return int(hi)
}

func (sr *SeriesRecord) expired(s *slot, now uint32) bool {
	return int64(now)-int64(s.touched) > sr.ttl
}

// Get returns the latest sample recorded for key, unless the series was
// idle for longer than the TTL.
func (sr *SeriesRecord) Get(key uint64, now time.Time) (Latest, bool) {
	sh := sr.shard(key)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	i := sh.find(key)
	if i < 0 {
		return Latest{}, false
	}
	s := &sh.slots[i]
	if sr.expired(s, unixSeconds(now)) {
		return Latest{}, false
	}
	return s.latest(), true
}

// Put records that l was accepted upstream for key. The record keeps the
// sample with the largest timestamp; at an equal timestamp the one already
// recorded stays, as the upstream keeps the first value it stored.
func (sr *SeriesRecord) Put(key uint64, l Latest, now time.Time) {
	t := unixSeconds(now)
	sh := sr.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sr.sweepIfDue(sh, t)
	sr.putLocked(sh, key, l, t, -1)
}

// putLocked is Put with sh locked. hint is where an earlier lookup found
// key, or -1; it is only tried, as the table may have changed since.
func (sr *SeriesRecord) putLocked(sh *recordShard, key uint64, l Latest, t uint32, hint int) {
	i := hint
	if i < 0 || i >= len(sh.slots) || sh.slots[i].key != key {
		i = sh.find(key)
	}
	if i >= 0 {
		s := &sh.slots[i]
		if l.TimestampMs > s.ts || sr.expired(s, t) {
			s.set(l)
		}
		s.touched = t
		return
	}
	if sh.count >= sh.max {
		sr.evictOne(sh, t)
	}
	if (sh.count+1)*maxLoadDen > len(sh.slots)*maxLoadNum {
		sh.grow()
	}
	s := &sh.slots[sh.probeEmpty(key)]
	s.key = key
	s.set(l)
	s.touched = t
	sh.count++
}

// latest is what the slot holds of its series.
func (s *slot) latest() Latest {
	return Latest{TimestampMs: s.ts, Value: s.value, Histogram: s.flags&slotHistogram != 0}
}

func (s *slot) set(l Latest) {
	s.ts = l.TimestampMs
	s.value = l.Value
	s.flags &^= slotHistogram
	if l.Histogram {
		s.flags |= slotHistogram
	}
}

// Len returns the number of series recorded, including idle ones not swept
// yet.
func (sr *SeriesRecord) Len() int {
	n := 0
	for i := range sr.shards {
		sh := &sr.shards[i]
		sh.mu.RLock()
		n += sh.count
		sh.mu.RUnlock()
	}
	return n
}

// Bytes returns the memory held by the record's tables.
func (sr *SeriesRecord) Bytes() int {
	n := int(unsafe.Sizeof(*sr)) + len(sr.shards)*int(unsafe.Sizeof(recordShard{}))
	for i := range sr.shards {
		sh := &sr.shards[i]
		sh.mu.RLock()
		n += cap(sh.slots) * SlotBytes
		sh.mu.RUnlock()
	}
	return n
}

func unixSeconds(t time.Time) uint32 { return uint32(t.Unix()) }

func (sh *recordShard) find(key uint64) int {
	n := len(sh.slots)
	if n == 0 {
		return -1
	}
	for i := home(key, n); ; {
		switch sh.slots[i].key {
		case key:
			return i
		case 0:
			return -1
		}
		if i++; i == n {
			i = 0
		}
	}
}

func (sh *recordShard) probeEmpty(key uint64) int {
	n := len(sh.slots)
	for i := home(key, n); ; {
		if sh.slots[i].key == 0 {
			return i
		}
		if i++; i == n {
			i = 0
		}
	}
}

// grow enlarges the table by half, up to the size the shard's cap needs at
// the maximum load. Growing by half rather than doubling keeps the memory
// per series between 40 and 60 bytes while the table fills.
func (sh *recordShard) grow() {
	limit := sh.max*maxLoadDen/maxLoadNum + 1
	n := min(max(len(sh.slots)*3/2, minTableLen), max(limit, minTableLen))
	if n <= len(sh.slots) {
		return
	}
	old := sh.slots
	sh.slots = make([]slot, n)
	for i := range old {
		if old[i].key != 0 {
			sh.slots[sh.probeEmpty(old[i].key)] = old[i]
		}
	}
}

// deleteAt empties slot i and shifts the following entries of its probe
// run back, so that lookups need no tombstones.
func (sh *recordShard) deleteAt(i int) {
	n := len(sh.slots)
	for j := i; ; {
		if j++; j == n {
			j = 0
		}
		if sh.slots[j].key == 0 {
			break
		}
		h := home(sh.slots[j].key, n)
		// The entry at j may move to i only if its home is not within (i, j].
		if i <= j {
			if i < h && h <= j {
				continue
			}
		} else if i < h || h <= j {
			continue
		}
		sh.slots[i] = sh.slots[j]
		i = j
	}
	sh.slots[i] = slot{}
	sh.count--
}

// evictOne removes from a full shard the least recently forwarded of a few
// series drawn at random, all of them in a small shard: approximately LRU.
// The draw is uniform over the series (a random slot, again while it is
// empty), which keeps the table's load even: evicting in table order or
// from the neighbours of one slot favours sparse regions and piles the
// remaining series into long probe runs.
func (sr *SeriesRecord) evictOne(sh *recordShard, now uint32) {
	n := len(sh.slots)
	if sh.count == 0 || n == 0 {
		return
	}
	victim := -1
	consider := func(i int) {
		if s := &sh.slots[i]; s.key != 0 && (victim < 0 || s.touched < sh.slots[victim].touched) {
			victim = i
		}
	}
	if sh.count <= evictionSample {
		for i := range sh.slots {
			consider(i)
		}
	} else {
		for range evictionSample {
			for {
				sh.rng ^= sh.rng << 13
				sh.rng ^= sh.rng >> 7
				sh.rng ^= sh.rng << 17
				if i := home(sh.rng, n); sh.slots[i].key != 0 {
					consider(i)
					break
				}
			}
		}
	}
	if sr.expired(&sh.slots[victim], now) {
		sr.evictedTTL.Inc()
	} else {
		sr.evictedCapacity.Inc()
	}
	sh.deleteAt(victim)
}

// Sweep drops idle series from every shard whose last sweep is due. A push
// sweeps only the shards it writes to: without Sweep, the idle series of a
// quiet instance would stay in cross_request_series, and in the TTL
// evictions not yet counted, until pushes came back.
func (sr *SeriesRecord) Sweep(now time.Time) {
	t := unixSeconds(now)
	for i := range sr.shards {
		sh := &sr.shards[i]
		sh.mu.Lock()
		sr.sweepIfDue(sh, t)
		sh.mu.Unlock()
	}
}

// sweepIfDue drops the shard's idle series, at most four times per TTL.
func (sr *SeriesRecord) sweepIfDue(sh *recordShard, now uint32) {
	if int64(now)-int64(sh.lastSweep) < max(sr.ttl/4, 1) {
		return
	}
	sh.lastSweep = now
	for i := 0; i < len(sh.slots); {
		s := &sh.slots[i]
		if s.key != 0 && sr.expired(s, now) {
			// Another entry may have shifted into i: look at it again.
			sh.deleteAt(i)
			sr.evictedTTL.Inc()
			continue
		}
		i++
	}
}
