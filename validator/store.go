package validator

import (
	"cmp"
	"container/list"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Store keeps the offenders of every tenant, bounded per tenant: when a
// tenant's store is full the least recently seen offender is evicted, and
// evictions are counted.
type Store struct {
	maxPerTenant int

	mtx     sync.Mutex
	tenants map[string]*tenantOffenders

	evictions *prometheus.CounterVec
	size      *prometheus.GaugeVec
}

type tenantOffenders struct {
	byKey   map[string]*list.Element // of *Offender
	lru     *list.List               // front: most recently seen
	evicted int64
}

// NewStore returns a Store keeping at most maxPerTenant offenders a tenant.
func NewStore(maxPerTenant int, reg prometheus.Registerer) *Store {
	return &Store{
		maxPerTenant: maxPerTenant,
		tenants:      map[string]*tenantOffenders{},
		evictions: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "offenders_evicted_total",
			Help:      "Offenders evicted from the report because the tenant's store was full.",
		}, []string{"tenant"}),
		size: promauto.With(reg).NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "pushguard",
			Name:      "offenders",
			Help:      "Offenders currently held in the report.",
		}, []string{"tenant"}),
	}
}

func offenderKey(o *Offender) string {
	names := make([]string, 0, len(o.Origin))
	for n := range o.Origin {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(o.Metric)
	b.WriteByte(0xff)
	b.WriteString(o.Kind)
	for _, n := range names {
		b.WriteByte(0xff)
		b.WriteString(n)
		b.WriteByte(0xfe)
		b.WriteString(o.Origin[n])
	}
	return b.String()
}

// Record merges a request's offenders into the store.
func (s *Store) Record(offenders []*Offender) {
	if len(offenders) == 0 || s.maxPerTenant <= 0 {
		return
	}
	s.mtx.Lock()
	defer s.mtx.Unlock()
	for _, o := range offenders {
		t := s.tenants[o.Tenant]
		if t == nil {
			t = &tenantOffenders{byKey: map[string]*list.Element{}, lru: list.New()}
			s.tenants[o.Tenant] = t
		}
		key := offenderKey(o)
		if el, ok := t.byKey[key]; ok {
			merge(el.Value.(*Offender), o)
			t.lru.MoveToFront(el)
			continue
		}
		cp := *o
		t.byKey[key] = t.lru.PushFront(&cp)
		for t.lru.Len() > s.maxPerTenant {
			last := t.lru.Back()
			t.lru.Remove(last)
			delete(t.byKey, offenderKey(last.Value.(*Offender)))
			t.evicted++
			s.evictions.WithLabelValues(o.Tenant).Inc()
		}
		s.size.WithLabelValues(o.Tenant).Set(float64(t.lru.Len()))
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
	dst.Action, dst.RequestedAction = src.Action, src.RequestedAction
	dst.UserAgent = src.UserAgent
}

// Filter selects offenders from a report. Zero values select everything.
type Filter struct {
	Metric string
	Kind   string
	Limit  int
}

// List returns copies of tenant's offenders matching f, most conflicting
// first, and how many offenders the tenant's store has evicted so far.
func (s *Store) List(tenant string, f Filter) ([]Offender, int64) {
	s.mtx.Lock()
	t := s.tenants[tenant]
	var out []Offender
	var evicted int64
	if t != nil {
		evicted = t.evicted
		for el := t.lru.Front(); el != nil; el = el.Next() {
			o := el.Value.(*Offender)
			if (f.Metric != "" && o.Metric != f.Metric) || (f.Kind != "" && o.Kind != f.Kind) {
				continue
			}
			out = append(out, *o)
		}
	}
	s.mtx.Unlock()
	slices.SortStableFunc(out, func(a, b Offender) int {
		if c := cmp.Compare(b.ConflictingSamples, a.ConflictingSamples); c != 0 {
			return c
		}
		if c := cmp.Compare(b.IdenticalSamples, a.IdenticalSamples); c != 0 {
			return c
		}
		return b.LastSeen.Compare(a.LastSeen)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, evicted
}
