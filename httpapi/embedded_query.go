package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	slgk "github.com/tjhop/slog-gokit"

	"github.com/pushguard/pushguard/upstream"
)

// EmbeddedQueryPath is where the embedded TSDB's PromQL instant query
// endpoint is served.
const EmbeddedQueryPath = "/embedded/api/v1/query"

// Prometheus HTTP API error types.
const (
	promErrBadData      = "bad_data"
	promErrExecution    = "execution"
	promErrCanceled     = "canceled"
	promErrTimeout      = "timeout"
	promErrInternal     = "internal"
	promErrUnauthorized = "unauthorized"
)

// maxQueryAnnotations caps the warnings and infos returned, as Prometheus does.
const maxQueryAnnotations = 10

type embeddedQueryHandler struct {
	embedded *upstream.Embedded
	tenantOf func(*http.Request) (string, error)
	engine   *promql.Engine
	logger   log.Logger
	now      func() time.Time
}

// NewEmbeddedQueryHandler returns a handler that runs PromQL instant queries
// (query, time) against the embedded TSDB of the request's tenant and answers
// in the Prometheus HTTP API JSON shape, so the whole path can be checked
// without a Mimir.
func NewEmbeddedQueryHandler(e *upstream.Embedded, tenantOf func(*http.Request) (string, error), logger log.Logger) http.Handler {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	return &embeddedQueryHandler{
		embedded: e,
		tenantOf: tenantOf,
		engine: promql.NewEngine(promql.EngineOpts{
			Logger:               slog.New(slgk.NewGoKitHandler(logger, nil)),
			MaxSamples:           50e6,
			Timeout:              2 * time.Minute,
			LookbackDelta:        5 * time.Minute,
			EnableAtModifier:     true,
			EnableNegativeOffset: true,
		}),
		logger: logger,
		now:    time.Now,
	}
}

func (h *embeddedQueryHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writePromError(w, http.StatusMethodNotAllowed, promErrBadData, fmt.Errorf("method %s not allowed", r.Method))
		return
	}
	tenantID, err := h.tenantOf(r)
	if err != nil {
		writePromError(w, http.StatusUnauthorized, promErrUnauthorized, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		writePromError(w, http.StatusBadRequest, promErrBadData, fmt.Errorf("error parsing form values: %w", err))
		return
	}
	ts, err := parsePromTime(r.Form.Get("time"), h.now())
	if err != nil {
		writePromError(w, http.StatusBadRequest, promErrBadData, fmt.Errorf("invalid parameter \"time\": %w", err))
		return
	}
	queryable, err := h.embedded.Queryable(tenantID)
	if err != nil {
		if errors.Is(err, upstream.ErrInvalidTenantID) {
			writePromError(w, http.StatusBadRequest, promErrBadData, err)
			return
		}
		level.Error(h.logger).Log("msg", "opening embedded TSDB for query failed", "tenant", tenantID, "err", err)
		writePromError(w, http.StatusInternalServerError, promErrInternal, err)
		return
	}

	query := r.Form.Get("query")
	qry, err := h.engine.NewInstantQuery(r.Context(), queryable, nil, query, ts)
	if err != nil {
		writePromError(w, http.StatusBadRequest, promErrBadData, fmt.Errorf("invalid parameter \"query\": %w", err))
		return
	}
	defer qry.Close()

	res := qry.Exec(r.Context())
	if res.Err != nil {
		status, errType := promQueryErrorStatus(res.Err)
		level.Debug(h.logger).Log("msg", "embedded query failed", "tenant", tenantID, "query", query, "err", res.Err)
		writePromError(w, status, errType, res.Err)
		return
	}
	result, err := promQueryResult(res)
	if err != nil {
		writePromError(w, http.StatusInternalServerError, promErrInternal, err)
		return
	}
	warnings, infos := res.Warnings.AsStrings(query, maxQueryAnnotations, maxQueryAnnotations)
	writePromJSON(w, http.StatusOK, promAPIResponse{
		Status:   "success",
		Data:     &promQueryData{ResultType: string(res.Value.Type()), Result: result},
		Warnings: warnings,
		Infos:    infos,
	})
}

// promQueryErrorStatus maps execution errors the way Prometheus' API does.
func promQueryErrorStatus(err error) (int, string) {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		storage  promql.ErrStorage
	)
	switch {
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, promErrCanceled
	case errors.As(err, &timeout):
		return http.StatusServiceUnavailable, promErrTimeout
	case errors.As(err, &storage):
		return http.StatusInternalServerError, promErrInternal
	}
	return http.StatusUnprocessableEntity, promErrExecution
}

// parsePromTime accepts what Prometheus accepts: unix seconds with an
// optional fraction, or RFC3339. Empty means now.
func parsePromTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1000))*int64(time.Millisecond)).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

type promAPIResponse struct {
	Status    string         `json:"status"`
	Data      *promQueryData `json:"data,omitempty"`
	ErrorType string         `json:"errorType,omitempty"`
	Error     string         `json:"error,omitempty"`
	Warnings  []string       `json:"warnings,omitempty"`
	Infos     []string       `json:"infos,omitempty"`
}

type promQueryData struct {
	ResultType string `json:"resultType"`
	Result     any    `json:"result"`
}

type promVectorSample struct {
	Metric    map[string]string   `json:"metric"`
	Value     *promFloatPoint     `json:"value,omitempty"`
	Histogram *promHistogramPoint `json:"histogram,omitempty"`
}

type promMatrixSeries struct {
	Metric     map[string]string    `json:"metric"`
	Values     []promFloatPoint     `json:"values,omitempty"`
	Histograms []promHistogramPoint `json:"histograms,omitempty"`
}

// promFloatPoint renders as [<unix seconds>, "<value>"].
type promFloatPoint struct {
	T int64
	F float64
}

func (p promFloatPoint) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{promTimestamp(p.T), promFloat(p.F)})
}

// promHistogramPoint renders as [<unix seconds>, {"count", "sum", "buckets"}].
type promHistogramPoint struct {
	T int64
	H *histogram.FloatHistogram
}

type promHistogramJSON struct {
	Count   string  `json:"count"`
	Sum     string  `json:"sum"`
	Buckets [][]any `json:"buckets,omitempty"`
}

func (p promHistogramPoint) MarshalJSON() ([]byte, error) {
	h := promHistogramJSON{Count: promFloat(p.H.Count), Sum: promFloat(p.H.Sum)}
	for it := p.H.AllBucketIterator(); it.Next(); {
		b := it.At()
		if b.Count == 0 {
			continue // Prometheus does not expose empty buckets either.
		}
		h.Buckets = append(h.Buckets, []any{promBucketBoundaries(b), promFloat(b.Lower), promFloat(b.Upper), promFloat(b.Count)})
	}
	return json.Marshal([]any{promTimestamp(p.T), h})
}

// promBucketBoundaries encodes which bucket ends are inclusive: 0 upper only,
// 1 lower only, 2 neither, 3 both, as in the Prometheus API.
func promBucketBoundaries(b histogram.Bucket[float64]) int {
	switch {
	case b.LowerInclusive && b.UpperInclusive:
		return 3
	case b.LowerInclusive:
		return 1
	case b.UpperInclusive:
		return 0
	}
	return 2
}

func promQueryResult(res *promql.Result) (any, error) {
	switch v := res.Value.(type) {
	case promql.Vector:
		out := make([]promVectorSample, 0, len(v))
		for _, s := range v {
			vs := promVectorSample{Metric: promLabelsMap(s.Metric)}
			if s.H != nil {
				vs.Histogram = &promHistogramPoint{T: s.T, H: s.H}
			} else {
				vs.Value = &promFloatPoint{T: s.T, F: s.F}
			}
			out = append(out, vs)
		}
		return out, nil
	case promql.Matrix:
		out := make([]promMatrixSeries, 0, len(v))
		for _, s := range v {
			ms := promMatrixSeries{Metric: promLabelsMap(s.Metric)}
			for _, p := range s.Floats {
				ms.Values = append(ms.Values, promFloatPoint{T: p.T, F: p.F})
			}
			for _, p := range s.Histograms {
				ms.Histograms = append(ms.Histograms, promHistogramPoint{T: p.T, H: p.H})
			}
			out = append(out, ms)
		}
		return out, nil
	case promql.Scalar:
		return promFloatPoint{T: v.T, F: v.V}, nil
	case promql.String:
		return []any{promTimestamp(v.T), v.V}, nil
	}
	return nil, fmt.Errorf("unexpected query result type %T", res.Value)
}

func promLabelsMap(ls labels.Labels) map[string]string {
	m := make(map[string]string, ls.Len())
	ls.Range(func(l labels.Label) { m[l.Name] = l.Value })
	return m
}

// promTimestamp renders milliseconds as unix seconds with up to three
// decimals, exactly as Prometheus does (1435781451.781).
func promTimestamp(ms int64) json.Number {
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	s := sign + strconv.FormatInt(ms/1000, 10)
	if frac := ms % 1000; frac != 0 {
		s += fmt.Sprintf(".%03d", frac)
	}
	return json.Number(s)
}

// promFloat renders a sample value as Prometheus does: shortest exact
// representation, exponent only for very small or large values, and
// "+Inf", "-Inf", "NaN" as such.
func promFloat(f float64) string {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.FormatFloat(f, format, -1, 64)
}

func writePromError(w http.ResponseWriter, status int, errType string, err error) {
	writePromJSON(w, status, promAPIResponse{Status: "error", ErrorType: errType, Error: err.Error()})
}

func writePromJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
