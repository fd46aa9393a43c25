package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/grafana/dskit/services"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/httpapi"
	"github.com/pushguard/pushguard/upstream"
)

// queryTS is the evaluation time of most queries below: 2023-11-14T22:13:20Z.
const queryTS = int64(1_700_000_000_000)

func TestEmbeddedQueryHandler(t *testing.T) {
	e := startQueryEmbedded(t)
	pushQuerySeries(t, e, "team-a",
		prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "job", Value: "x"}, {Name: "__name__", Value: "a"}},
			Samples: []prompb.Sample{{Timestamp: queryTS - 60_000, Value: 1}, {Timestamp: queryTS, Value: 1.5}},
		},
		prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "b"}, {Name: "job", Value: "x"}},
			Samples: []prompb.Sample{{Timestamp: queryTS, Value: 2}},
		},
		prompb.TimeSeries{
			Labels: []prompb.Label{{Name: "__name__", Value: "h"}},
			Histograms: []prompb.Histogram{prompb.FromIntHistogram(queryTS, &histogram.Histogram{
				Count: 3, Sum: 4.5, ZeroThreshold: 0.001,
				PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}}, PositiveBuckets: []int64{1, 1},
			})},
		},
	)
	pushQuerySeries(t, e, "team-b", prompb.TimeSeries{
		Labels:  []prompb.Label{{Name: "__name__", Value: "a"}, {Name: "job", Value: "other"}},
		Samples: []prompb.Sample{{Timestamp: queryTS, Value: 42}},
	})

	handler := httpapi.NewEmbeddedQueryHandler(e, func(r *http.Request) (string, error) {
		if id := r.Header.Get("X-Scope-OrgID"); id != "" {
			return id, nil
		}
		return "", errors.New("no org id")
	}, log.NewNopLogger())

	tests := map[string]struct {
		method string
		tenant string
		params url.Values
		status int
		body   string
	}{
		"float vector": {
			params: url.Values{"query": {"a"}, "time": {"1700000000"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"a","job":"x"},"value":[1700000000,"1.5"]}]}}`,
		},
		"RFC3339 time and fractional timestamps": {
			params: url.Values{"query": {"b"}, "time": {"2023-11-14T22:13:20.5Z"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"b","job":"x"},"value":[1700000000.500,"2"]}]}}`,
		},
		"unix time with fraction": {
			params: url.Values{"query": {"b"}, "time": {"1700000000.05"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"b","job":"x"},"value":[1700000000.050,"2"]}]}}`,
		},
		"POST form": {
			method: http.MethodPost,
			params: url.Values{"query": {"sum(a)"}, "time": {"1700000000"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"1.5"]}]}}`,
		},
		"matrix": {
			params: url.Values{"query": {"a[5m]"}, "time": {"1700000000"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"a","job":"x"},"values":[[1699999940,"1"],[1700000000,"1.5"]]}]}}`,
		},
		"native histogram": {
			params: url.Values{"query": {"h"}, "time": {"1700000000"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"h"},"histogram":[1700000000,{"count":"3","sum":"4.5","buckets":[[0,"0.5","1","1"],[0,"1","2","2"]]}]}]}}`,
		},
		"native histogram range": {
			params: url.Values{"query": {"h[1m]"}, "time": {"1700000000"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"h"},"histograms":[[1700000000,{"count":"3","sum":"4.5","buckets":[[0,"0.5","1","1"],[0,"1","2","2"]]}]]}]}}`,
		},
		"scalar": {
			params: url.Values{"query": {"1 + 1"}, "time": {"1700000000"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"2"]}}`,
		},
		"scalar +Inf": {
			params: url.Values{"query": {"1/0"}, "time": {"1700000000"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"+Inf"]}}`,
		},
		"scalar -Inf": {
			params: url.Values{"query": {"-1/0"}, "time": {"1700000000"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"-Inf"]}}`,
		},
		"scalar NaN": {
			params: url.Values{"query": {"0/0"}, "time": {"1700000000"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"NaN"]}}`,
		},
		"tiny scalar uses an exponent like Prometheus": {
			params: url.Values{"query": {"1e-7"}, "time": {"1700000000"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1e-07"]}}`,
		},
		"string": {
			params: url.Values{"query": {`"hello"`}, "time": {"1700000000"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"string","result":[1700000000,"hello"]}}`,
		},
		"empty result": {
			params: url.Values{"query": {"nope"}, "time": {"1700000000"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"vector","result":[]}}`,
		},
		"lookback is 5m": {
			params: url.Values{"query": {"b"}, "time": {"1700000301"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"vector","result":[]}}`,
		},
		"tenants are isolated": {
			tenant: "team-b",
			params: url.Values{"query": {"a"}, "time": {"1700000000"}},
			status: http.StatusOK,
			body:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"a","job":"other"},"value":[1700000000,"42"]}]}}`,
		},
		"parse error": {
			params: url.Values{"query": {"sum("}, "time": {"1700000000"}},
			status: http.StatusBadRequest,
			body:   `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}`,
		},
		"bad time": {
			params: url.Values{"query": {"a"}, "time": {"yesterday"}},
			status: http.StatusBadRequest,
			body:   `{"status":"error","errorType":"bad_data","error":"invalid parameter \"time\": cannot parse \"yesterday\" to a valid timestamp"}`,
		},
		"execution error": {
			params: url.Values{"query": {`{job="x"} + 1`}, "time": {"1700000000"}},
			status: http.StatusUnprocessableEntity,
			body:   `{"status":"error","errorType":"execution","error":"vector cannot contain metrics with the same labelset"}`,
		},
		"missing tenant": {
			tenant: "-",
			params: url.Values{"query": {"a"}},
			status: http.StatusUnauthorized,
			body:   `{"status":"error","errorType":"unauthorized","error":"no org id"}`,
		},
		"invalid tenant": {
			tenant: "../x",
			params: url.Values{"query": {"a"}},
			status: http.StatusBadRequest,
			body:   `{"status":"error","errorType":"bad_data","error":"invalid tenant ID: tenant ID '../x' contains unsupported character '/'"}`,
		},
		"method not allowed": {
			method: http.MethodDelete,
			params: url.Values{"query": {"a"}},
			status: http.StatusMethodNotAllowed,
			body:   `{"status":"error","errorType":"bad_data","error":"method DELETE not allowed"}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var req *http.Request
			switch tc.method {
			case "", http.MethodGet:
				req = httptest.NewRequest(http.MethodGet, httpapi.EmbeddedQueryPath+"?"+tc.params.Encode(), nil)
			default:
				req = httptest.NewRequest(tc.method, httpapi.EmbeddedQueryPath, strings.NewReader(tc.params.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			switch tc.tenant {
			case "":
				req.Header.Set("X-Scope-OrgID", "team-a")
			case "-":
			default:
				req.Header.Set("X-Scope-OrgID", tc.tenant)
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)

			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			require.Equal(t, tc.body, rec.Body.String())
		})
	}
}

func TestEmbeddedQueryHandler_DefaultTimeIsNow(t *testing.T) {
	e := startQueryEmbedded(t)
	now := time.Now().UnixMilli()
	pushQuerySeries(t, e, "team-a", prompb.TimeSeries{
		Labels:  []prompb.Label{{Name: "__name__", Value: "up"}},
		Samples: []prompb.Sample{{Timestamp: now, Value: 1}},
	})
	handler := httpapi.NewEmbeddedQueryHandler(e, func(*http.Request) (string, error) { return "team-a", nil }, log.NewNopLogger())

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, httpapi.EmbeddedQueryPath+"?query=up", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), `{"metric":{"__name__":"up"},"value":[`)
}

func startQueryEmbedded(t *testing.T) *upstream.Embedded {
	t.Helper()
	e, err := upstream.NewEmbedded(upstream.EmbeddedConfig{Dir: t.TempDir(), Retention: 24 * time.Hour}, log.NewNopLogger(), nil)
	require.NoError(t, err)
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), e))
	t.Cleanup(func() { require.NoError(t, services.StopAndAwaitTerminated(context.Background(), e)) })
	return e
}

func pushQuerySeries(t *testing.T, e *upstream.Embedded, tenantID string, series ...prompb.TimeSeries) {
	t.Helper()
	b, err := (&prompb.WriteRequest{Timeseries: series}).Marshal()
	require.NoError(t, err)
	resp, err := e.Push(context.Background(), &upstream.Request{Tenant: tenantID, Body: snappy.Encode(nil, b)})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(resp.Body))
}
