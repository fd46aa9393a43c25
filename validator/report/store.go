package report

import (
	"cmp"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Store keeps the offenders of every tenant, bounded twice: per tenant
// (-validator.max-offenders-per-tenant) and across tenants
// (-validator.max-offenders). When either bound is reached the least recently
// seen offender (of the tenant, or of all tenants) is evicted, and evictions
// are counted, so that a storm of distinct offenders costs a fixed amount of
// memory and says what it pushed out.
type Store struct {
	maxPerTenant int
	maxTotal     int
	now          func() time.Time

	mtx     sync.Mutex
	tenants map[string]*tenantOffenders
	all     lru // every entry, across tenants
	evicted int64
	// forgotten holds the eviction counts of tenants left with no
	// offenders, which are forgotten: the tenant's report still says how
	// many it lost, until RetainForgotten drops the tenant.
	forgotten map[string]int64

	evictions *prometheus.CounterVec
	size      *prometheus.GaugeVec
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithMaxOffenders bounds the offenders kept across all tenants; 0 means
// only the per-tenant bound applies.
func WithMaxOffenders(n int) StoreOption { return func(s *Store) { s.maxTotal = n } }

// WithClock sets the clock the per-minute histories are read against.
func WithClock(now func() time.Time) StoreOption { return func(s *Store) { s.now = now } }

type tenantOffenders struct {
	byKey   map[string]*stored
	lru     lru
	evicted int64
	// The tenant's metrics, looked up once rather than per offender.
	evictions prometheus.Counter
	size      prometheus.Gauge
}

// stored is one stored offender. It sits on two LRU lists at once, its
// tenant's and the global one, hence the two sets of links.
type stored struct {
	o     Offender
	key   string
	hist  History
	links [2]struct{ prev, next *stored }
}

const (
	tenantList = 0
	globalList = 1
)

// lru is an intrusive doubly linked list of stored offenders, most recent first.
type lru struct {
	which      int
	head, tail *stored
	n          int
}

func (l *lru) pushFront(e *stored) {
	ln := &e.links[l.which]
	ln.prev, ln.next = nil, l.head
	if l.head != nil {
		l.head.links[l.which].prev = e
	} else {
		l.tail = e
	}
	l.head = e
	l.n++
}

func (l *lru) remove(e *stored) {
	ln := &e.links[l.which]
	if ln.prev != nil {
		ln.prev.links[l.which].next = ln.next
	} else {
		l.head = ln.next
	}
	if ln.next != nil {
		ln.next.links[l.which].prev = ln.prev
	} else {
		l.tail = ln.prev
	}
	ln.prev, ln.next = nil, nil
	l.n--
}

func (l *lru) moveToFront(e *stored) {
	if l.head == e {
		return
	}
	l.remove(e)
	l.pushFront(e)
}

// NewStore returns a Store keeping at most maxPerTenant offenders a tenant.
func NewStore(maxPerTenant int, reg prometheus.Registerer, opts ...StoreOption) *Store {
	s := &Store{
		maxPerTenant: maxPerTenant,
		now:          time.Now,
		tenants:      map[string]*tenantOffenders{},
		forgotten:    map[string]int64{},
		all:          lru{which: globalList},
		evictions: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "offenders_evicted_total",
			Help:      "Offenders evicted from the report because the tenant's store or the whole store was full.",
		}, []string{"tenant"}),
		size: promauto.With(reg).NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "pushguard",
			Name:      "offenders",
			Help:      "Offenders currently held in the report.",
		}, []string{"tenant"}),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func offenderKey(o *Offender) string {
	return string(appendOffenderKey(nil, o))
}

// appendOffenderKey appends o's key (metric, kind and origin label values
// in name order) to b.
func appendOffenderKey(b []byte, o *Offender) []byte {
	var small [16]string
	names := small[:0]
	for n := range o.Origin {
		names = append(names, n)
	}
	slices.Sort(names)
	b = AppendKeyHead(b, o.Metric, o.Kind)
	for _, n := range names {
		b = AppendKeyOrigin(b, n, o.Origin[n])
	}
	return b
}

// AppendKeyHead appends the start of the store key of an offender of metric
// and kind to b; AppendKeyOrigin then appends each of its origin labels, in
// the order of their names. Built from the metric and origin an offender
// will carry in the store (label limits applied), it is the key Record
// derives from the offender's fields.
func AppendKeyHead[S ~string | ~[]byte](b []byte, metric S, kind string) []byte {
	b = append(b, metric...)
	b = append(b, 0xff)
	return append(b, kind...)
}

// AppendKeyOrigin appends one origin label to a key; see AppendKeyHead.
func AppendKeyOrigin[S ~string | ~[]byte](b []byte, name string, value S) []byte {
	b = append(b, 0xff)
	b = append(b, name...)
	b = append(b, 0xfe)
	return append(b, value...)
}

// offenderID is a short stable name for an offender, used in links to its
// detail view.
func offenderID(tenant, key string) string {
	h := xxhash.New()
	_, _ = h.WriteString(tenant)
	_, _ = h.Write([]byte{0xff})
	_, _ = h.WriteString(key)
	return strconv.FormatUint(h.Sum64(), 16)
}

// Record merges a request's offenders into the store.
func (s *Store) Record(offenders []*Offender) { s.RecordWith(offenders, Lazy{}) }

// Lazy describes a push's offenders whose costly parts were left empty, for
// the store to have them built only when it keeps them: a push repeating
// known offenders builds no label map.
type Lazy struct {
	// Keys[i] is offenders[i]'s key (see AppendKeyHead); without Keys the
	// key is derived from the offender's fields.
	Keys []string
	// Complete, when set, fills in a new offender's Metric and Origin.
	Complete func(i int, o *Offender)
	// Example, when set, returns offenders[i]'s example. It is called for
	// a new offender, or the first conflict of one known so far only for
	// identical repeats.
	Example func(i int) Example
}

// RecordWith is Record for offenders built lazily.
func (s *Store) RecordWith(offenders []*Offender, lazy Lazy) {
	if len(offenders) == 0 || s.maxPerTenant <= 0 {
		return
	}
	s.mtx.Lock()
	defer s.mtx.Unlock()
	var kb []byte
	for i, o := range offenders {
		t := s.tenants[o.Tenant]
		if t == nil {
			t = &tenantOffenders{
				byKey: map[string]*stored{}, lru: lru{which: tenantList},
				evictions: s.evictions.WithLabelValues(o.Tenant),
				size:      s.size.WithLabelValues(o.Tenant),
				evicted:   s.forgotten[o.Tenant],
			}
			delete(s.forgotten, o.Tenant)
			s.tenants[o.Tenant] = t
		}
		var (
			key string
			e   *stored
			ok  bool
		)
		if lazy.Keys != nil {
			key = lazy.Keys[i]
			e, ok = t.byKey[key]
		} else {
			kb = appendOffenderKey(kb[:0], o)
			e, ok = t.byKey[string(kb)]
		}
		if ok {
			if lazy.Example != nil && e.o.ConflictingSamples == 0 && o.ConflictingSamples > 0 {
				o.Example = lazy.Example(i)
			}
			merge(&e.o, o)
			e.hist.Add(o.LastSeen, o.ConflictingSamples+o.IdenticalSamples)
			t.lru.moveToFront(e)
			s.all.moveToFront(e)
			continue
		}
		if lazy.Keys == nil {
			key = string(kb)
		}
		if lazy.Complete != nil {
			lazy.Complete(i, o)
		}
		if lazy.Example != nil {
			o.Example = lazy.Example(i)
		}
		e = &stored{o: *o, key: key}
		e.o.ID = offenderID(o.Tenant, key)
		e.o.PerMinute = nil
		e.hist.Add(o.LastSeen, o.ConflictingSamples+o.IdenticalSamples)
		t.byKey[key] = e
		t.lru.pushFront(e)
		s.all.pushFront(e)
		for t.lru.n > s.maxPerTenant {
			s.evict(t, t.lru.tail)
		}
		for s.maxTotal > 0 && s.all.n > s.maxTotal {
			victim := s.all.tail
			s.evict(s.tenants[victim.o.Tenant], victim)
		}
		if t.lru.n > 0 {
			t.size.Set(float64(t.lru.n))
		}
	}
}

// evict removes e from t and from the store; a tenant left with no
// offenders is forgotten but for its eviction count (forgotten), so that a
// storm of tenants does not pile up their offender tables.
func (s *Store) evict(t *tenantOffenders, e *stored) {
	t.lru.remove(e)
	s.all.remove(e)
	delete(t.byKey, e.key)
	t.evicted++
	s.evicted++
	t.evictions.Inc()
	if t.lru.n == 0 {
		s.forgotten[e.o.Tenant] = t.evicted
		delete(s.tenants, e.o.Tenant)
		s.size.DeleteLabelValues(e.o.Tenant)
		return
	}
	t.size.Set(float64(t.lru.n))
}

// Forget drops everything the store holds of tenant: its offenders, its
// eviction count and their series. With no bound across tenants
// (WithMaxOffenders(0)), forgetting idle tenants is what bounds the store.
func (s *Store) Forget(tenant string) {
	s.mtx.Lock()
	defer s.mtx.Unlock()
	if t := s.tenants[tenant]; t != nil {
		for e := t.lru.head; e != nil; e = e.links[tenantList].next {
			s.all.remove(e)
		}
		delete(s.tenants, tenant)
	}
	delete(s.forgotten, tenant)
	s.size.DeleteLabelValues(tenant)
	s.evictions.DeleteLabelValues(tenant)
}

// RetainForgotten drops the eviction counts, and their series, of the
// forgotten tenants (those with no offenders left) keep does not keep:
// without it, every tenant that ever had an offender evicted would keep
// one for good.
func (s *Store) RetainForgotten(keep func(tenant string) bool) {
	s.mtx.Lock()
	defer s.mtx.Unlock()
	for tenant := range s.forgotten {
		if !keep(tenant) {
			delete(s.forgotten, tenant)
			s.evictions.DeleteLabelValues(tenant)
		}
	}
}

func merge(dst, src *Offender) {
	if dst.ConflictingSamples == 0 && src.ConflictingSamples > 0 {
		dst.Example = src.Example
	}
	dst.ConflictingSamples += src.ConflictingSamples
	dst.IdenticalSamples += src.IdenticalSamples
	dst.DroppedSamples += src.DroppedSamples
	dst.ChangedSamples += src.ChangedSamples
	dst.RelabelledSamples += src.RelabelledSamples
	if src.FirstSeen.Before(dst.FirstSeen) {
		dst.FirstSeen = src.FirstSeen
	}
	if src.LastSeen.After(dst.LastSeen) {
		dst.LastSeen = src.LastSeen
	}
	dst.TakeAction(src.Action, src.RequestedAction)
	dst.UserAgent = src.UserAgent
	dst.SenderAddress = src.SenderAddress
	dst.Source = src.Source
}

// Filter selects offenders from a report. Zero values select everything.
type Filter struct {
	// Tenant is only used by ListAll; List is always scoped to one tenant.
	Tenant string
	Metric string
	Kind   string
	// Origin selects offenders whose origin has every given label value.
	Origin map[string]string
	Limit  int
}

func (f *Filter) matches(o *Offender) bool {
	if (f.Metric != "" && o.Metric != f.Metric) || (f.Kind != "" && o.Kind != f.Kind) {
		return false
	}
	for name, want := range f.Origin {
		if o.Origin[name] != want {
			return false
		}
	}
	return true
}

// List returns copies of tenant's offenders matching f, most conflicting
// first, and how many offenders the tenant's store has evicted so far. The
// copies share their label maps with the store: read them, do not modify
// them.
func (s *Store) List(tenant string, f Filter) ([]Offender, int64) {
	now := s.now()
	s.mtx.Lock()
	t := s.tenants[tenant]
	var out []Offender
	evicted := s.forgotten[tenant]
	if t != nil {
		evicted = t.evicted
		out = appendMatching(out, t.byKey, &f, now)
	}
	s.mtx.Unlock()
	return limit(sortOffenders(out), f.Limit), evicted
}

// ListAll returns copies of the offenders of every tenant (or of f.Tenant)
// matching f, most conflicting first, and how many offenders the whole
// store (or f.Tenant's store) has evicted. It is for operators, never for a
// tenant's own API.
func (s *Store) ListAll(f Filter) ([]Offender, int64) {
	if f.Tenant != "" {
		return s.List(f.Tenant, f)
	}
	now := s.now()
	s.mtx.Lock()
	var out []Offender
	for _, t := range s.tenants {
		out = appendMatching(out, t.byKey, &f, now)
	}
	evicted := s.evicted
	s.mtx.Unlock()
	return limit(sortOffenders(out), f.Limit), evicted
}

// Get returns a copy of the offender with the given ID.
func (s *Store) Get(tenant, id string) (Offender, bool) {
	now := s.now()
	s.mtx.Lock()
	defer s.mtx.Unlock()
	if t := s.tenants[tenant]; t != nil {
		for _, e := range t.byKey {
			if e.o.ID == id {
				o := e.o
				o.PerMinute = e.hist.PerMinute(now)
				return o, true
			}
		}
	}
	return Offender{}, false
}

// StoreStats summarises a store for the report's header.
type StoreStats struct {
	Offenders    int
	Tenants      []string
	Evicted      int64
	MaxPerTenant int
	MaxTotal     int
}

// Stats returns the store's size, its tenants (sorted) and its evictions.
func (s *Store) Stats() StoreStats {
	s.mtx.Lock()
	st := StoreStats{Offenders: s.all.n, Evicted: s.evicted, MaxPerTenant: s.maxPerTenant, MaxTotal: s.maxTotal}
	for name := range s.tenants {
		st.Tenants = append(st.Tenants, name)
	}
	s.mtx.Unlock()
	sort.Strings(st.Tenants)
	return st
}

// Count returns how many offenders the report holds for tenant.
func (s *Store) Count(tenant string) int {
	s.mtx.Lock()
	defer s.mtx.Unlock()
	if t, ok := s.tenants[tenant]; ok {
		return len(t.byKey)
	}
	return 0
}

func appendMatching(out []Offender, byKey map[string]*stored, f *Filter, now time.Time) []Offender {
	for _, e := range byKey {
		if !f.matches(&e.o) {
			continue
		}
		o := e.o
		o.PerMinute = e.hist.PerMinute(now)
		out = append(out, o)
	}
	return out
}

func sortOffenders(out []Offender) []Offender {
	slices.SortFunc(out, func(a, b Offender) int {
		if c := cmp.Compare(b.ConflictingSamples, a.ConflictingSamples); c != 0 {
			return c
		}
		if c := cmp.Compare(b.IdenticalSamples, a.IdenticalSamples); c != 0 {
			return c
		}
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		// Map order is random: finish on the key so that lists are stable.
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Metric, b.Metric), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func limit(out []Offender, n int) []Offender {
	if n > 0 && len(out) > n {
		return out[:n]
	}
	return out
}
