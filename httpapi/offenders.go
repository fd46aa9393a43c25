package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/pushguard/pushguard/validator"
)

// OffendersResponse is the body of GET /api/v1/offenders.
type OffendersResponse struct {
	Offenders []validator.Offender `json:"offenders"`
	// EvictedOffenders counts offenders dropped from this tenant's report
	// because it was full.
	EvictedOffenders int64 `json:"evicted_offenders"`
}

type offendersHandler struct {
	auth  validator.AuthConfig
	store *validator.Store
}

// NewOffendersHandler serves the caller's tenant's offender report as JSON,
// most conflicting first, filtered by the metric, kind and limit parameters.
func NewOffendersHandler(auth validator.AuthConfig, store *validator.Store) http.Handler {
	return &offendersHandler{auth: auth, store: store}
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
	if offenders == nil {
		offenders = []validator.Offender{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(OffendersResponse{Offenders: offenders, EvictedOffenders: evicted})
}

func parseFilter(r *http.Request) (validator.Filter, error) {
	q := r.URL.Query()
	f := validator.Filter{Metric: q.Get("metric"), Kind: q.Get("kind")}
	if f.Kind != "" {
		if _, ok := validator.ParseKind(f.Kind); !ok {
			return f, validator.NewError(validator.ErrIDBadQuery, validator.CauseBadData, nil,
				"unknown kind %q, expected within_series, across_series or across_requests", f.Kind)
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return f, validator.NewError(validator.ErrIDBadQuery, validator.CauseBadData, nil, "limit must be a non-negative integer, got %q", l)
		}
		f.Limit = n
	}
	return f, nil
}
