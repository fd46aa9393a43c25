package validator

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/common/model"
)

// OverflowValue replaces every attribution label value once a tenant has
// used up its attribution cardinality, as Mimir's cost attribution does.
const OverflowValue = "__overflow__"

// Attribution counts duplicate samples by the values of a few configured
// labels of the offending series (job and namespace by default), so that a
// dashboard can say who sends duplicates without reading the report. Each
// tenant gets at most maxCardinality label value combinations; the rest are
// counted under OverflowValue, which bounds the metric's series.
type Attribution struct {
	labels         []string
	maxCardinality int

	mtx     sync.Mutex
	tenants map[string]map[string]struct{}

	samples *prometheus.CounterVec
}

// ValidateAttributionLabels checks that names can be metric labels beside
// tenant, kind and conflict.
func ValidateAttributionLabels(names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		switch {
		case !model.LegacyValidation.IsValidLabelName(n):
			return fmt.Errorf("attribution label %q is not a valid label name", n)
		case strings.HasPrefix(n, "__"):
			return fmt.Errorf("attribution label %q is reserved: names starting with __ cannot be metric labels", n)
		case n == "tenant" || n == "kind" || n == "conflict":
			return fmt.Errorf("attribution label %q clashes with a label of pushguard_attributed_duplicate_samples_total", n)
		case seen[n]:
			return fmt.Errorf("attribution label %q given twice", n)
		}
		seen[n] = true
	}
	return nil
}

// NewAttribution returns an Attribution over the given label names, which
// must have passed ValidateAttributionLabels.
func NewAttribution(labels []string, maxCardinality int, reg prometheus.Registerer) *Attribution {
	return &Attribution{
		labels:         labels,
		maxCardinality: maxCardinality,
		tenants:        map[string]map[string]struct{}{},
		samples: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushguard",
			Name:      "attributed_duplicate_samples_total",
			Help:      "Duplicate samples by the configured attribution labels of their series (-validator.attribution-labels); past -validator.max-attribution-cardinality combinations a tenant's values become __overflow__.",
		}, append([]string{"tenant", "kind", "conflict"}, labels...)),
	}
}

// Add counts n duplicates of tenant, kind and conflict for the series whose
// attribution label values are values (in the configured order).
func (a *Attribution) Add(tenant, kind, conflict string, values []string, n int) {
	if len(a.labels) == 0 || n <= 0 {
		return
	}
	for i, v := range values {
		// Label values are the sender's bytes; the client library panics
		// on invalid UTF-8.
		if !utf8.ValidString(v) {
			values[i] = strings.ToValidUTF8(v, "\uFFFD")
		}
	}
	key := strings.Join(values, "\xff")
	a.mtx.Lock()
	seen := a.tenants[tenant]
	if seen == nil {
		seen = map[string]struct{}{}
		a.tenants[tenant] = seen
	}
	_, known := seen[key]
	if !known && len(seen) < a.maxCardinality {
		seen[key] = struct{}{}
		known = true
	}
	// The series is counted under the lock too, so that forget, which
	// deletes the series seen names, never runs between the two and
	// leaves a series it no longer knows of.
	defer a.mtx.Unlock()
	lvs := make([]string, 0, 3+len(values))
	lvs = append(lvs, tenant, kind, conflict)
	if known {
		lvs = append(lvs, values...)
	} else {
		for range values {
			lvs = append(lvs, OverflowValue)
		}
	}
	a.samples.WithLabelValues(lvs...).Add(float64(n))
}

// forget deletes tenant's series and its label value combinations.
func (a *Attribution) forget(tenant string) {
	if len(a.labels) == 0 {
		return
	}
	a.mtx.Lock()
	defer a.mtx.Unlock()
	seen := a.tenants[tenant]
	delete(a.tenants, tenant)
	overflow := make([]string, len(a.labels))
	for i := range overflow {
		overflow[i] = OverflowValue
	}
	del := func(values []string) {
		lvs := append([]string{tenant, "", ""}, values...)
		forEachKindConflict(func(kind, conflict string) {
			lvs[1], lvs[2] = kind, conflict
			a.samples.DeleteLabelValues(lvs...)
		})
	}
	del(overflow)
	for key := range seen {
		// Values are valid UTF-8, which never holds the byte 0xff.
		del(strings.Split(key, "\xff"))
	}
}

// attributionGroups groups a push's duplicates by kind, conflict and
// attribution label values, in the order they first occur.
type attributionGroups struct {
	index  map[string]int
	groups []attributionGroup
	key    []byte
	values [][]byte
}

type attributionGroup struct {
	kind        Kind
	conflicting bool
	values      []string
	n           int
}

// group counts a duplicate of series si in g.
func (a *Attribution) group(g *attributionGroups, r *Request, si int, kind Kind, conflicting bool) {
	g.values = g.values[:0]
	for range a.labels {
		g.values = append(g.values, nil)
	}
	for _, l := range r.SeriesLabels(si) {
		name := r.Bytes(l.Name)
		for k, want := range a.labels {
			if want == string(name) {
				g.values[k] = r.Bytes(l.Value)
				break
			}
		}
	}
	g.key = append(g.key[:0], byte(kind), 0)
	if conflicting {
		g.key[1] = 1
	}
	for _, v := range g.values {
		g.key = binary.AppendUvarint(g.key, uint64(len(v)))
		g.key = append(g.key, v...)
	}
	if i, ok := g.index[string(g.key)]; ok {
		g.groups[i].n++
		return
	}
	if g.index == nil {
		g.index = map[string]int{}
	}
	g.index[string(g.key)] = len(g.groups)
	values := make([]string, len(g.values))
	for k, v := range g.values {
		values[k] = string(v)
	}
	g.groups = append(g.groups, attributionGroup{kind: kind, conflicting: conflicting, values: values, n: 1})
}
