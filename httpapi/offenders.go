package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pushguard/pushguard/validator"
	"github.com/pushguard/pushguard/validator/report"
)

// OffendersResponse is the body of GET /api/v1/offenders.
type OffendersResponse struct {
	Offenders []report.Offender `json:"offenders"`
	// EvictedOffenders counts offenders dropped from this tenant's report
	// because it was full.
	EvictedOffenders int64 `json:"evicted_offenders"`
	// Instance names the replica whose report this is: each replica
	// reports only the pushes it took.
	Instance string `json:"instance"`
}

type offendersHandler struct {
	auth     validator.AuthConfig
	store    *report.Store
	instance string
}

// NewOffendersHandler serves the caller's tenant's offender report as JSON,
// most conflicting first, filtered by the metric, kind, origin and limit
// parameters (see parseFilter).
// instance names this replica in the answer.
func NewOffendersHandler(auth validator.AuthConfig, store *report.Store, instance string) http.Handler {
	return &offendersHandler{auth: auth, store: store, instance: instance}
}

func (h *offendersHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenant, err := h.auth.Tenant(r.Header.Get("X-Scope-OrgID"))
	if err != nil {
		writeError(w, err)
		return
	}
	f, err := parseFilter(r)
	if err != nil {
		writeError(w, err)
		return
	}
	offenders, evicted := h.store.List(tenant, f)
	writeOffenders(w, offenders, evicted, h.instance)
}

// writeOffenders answers with the offenders as JSON.
func writeOffenders(w http.ResponseWriter, offenders []report.Offender, evicted int64, instance string) {
	if offenders == nil {
		offenders = []report.Offender{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(OffendersResponse{Offenders: offenders, EvictedOffenders: evicted, Instance: instance})
}

type adminOffendersHandler struct {
	store    *report.Store
	instance string
}

// NewAdminOffendersHandler serves every tenant's offenders as JSON, for
// operators: the same shape as GET /api/v1/offenders, plus a tenant filter.
// It has no authentication of its own and belongs behind the operator's.
func NewAdminOffendersHandler(store *report.Store, instance string) http.Handler {
	return &adminOffendersHandler{store: store, instance: instance}
}

func (h *adminOffendersHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if f.Tenant, err = adminTenant(r.URL.Query()); err != nil {
		writeError(w, err)
		return
	}
	offenders, evicted := h.store.ListAll(f)
	writeOffenders(w, offenders, evicted, h.instance)
}

// adminTenant reads the operator views' tenant filter, which is given
// once or not at all.
func adminTenant(q url.Values) (string, error) {
	if err := once(q, "tenant"); err != nil {
		return "", err
	}
	return q.Get("tenant"), nil
}

// once refuses a query that gives one of names more than once.
func once(q url.Values, names ...string) error {
	for _, name := range names {
		if len(q[name]) > 1 {
			return validator.NewError(validator.ErrIDBadQuery, validator.CauseBadData, nil, "%s given %d times: give it once", name, len(q[name]))
		}
	}
	return nil
}

// parseFilter reads the metric, kind, origin and limit query parameters.
// Each origin parameter is one origin label, name=value: the name is what
// comes before the first "=" (spaces around it ignored), the value
// everything after it, verbatim, so that a value may hold spaces or "=".
// An offender matches when it has every origin label given (for a name
// given twice, the last value). An empty origin parameter is ignored: the
// HTML report's form sends one for its empty box.
func parseFilter(r *http.Request) (report.Filter, error) {
	q := r.URL.Query()
	if err := once(q, "metric", "kind", "limit"); err != nil {
		return report.Filter{}, err
	}
	f := report.Filter{Metric: q.Get("metric"), Kind: q.Get("kind")}
	for _, o := range q["origin"] {
		if strings.TrimSpace(o) == "" {
			continue
		}
		name, value, ok := strings.Cut(o, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return f, validator.NewError(validator.ErrIDBadQuery, validator.CauseBadData, nil, "origin must be name=value, one label a parameter, got %q", o)
		}
		if f.Origin == nil {
			f.Origin = map[string]string{}
		}
		f.Origin[name] = value
	}
	if err := validator.CheckKindFilter(f.Kind); err != nil {
		return f, err
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 32)
		if err != nil || n < 0 {
			return f, validator.NewError(validator.ErrIDBadQuery, validator.CauseBadData, nil, "limit must be an integer from 0 to %d, got %q", math.MaxInt32, l)
		}
		f.Limit = int(n)
	}
	return f, nil
}
