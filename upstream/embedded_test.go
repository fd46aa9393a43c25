package upstream_test

import (
	"context"
	"flag"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/grafana/dskit/services"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/upstream"
)

const embeddedTenant = "team-a"

// embeddedBase is a sample timestamp far from 0 so that "two hours earlier"
// is still a valid timestamp.
const embeddedBase = int64(10 * time.Hour / time.Millisecond)

func TestEmbeddedConfig(t *testing.T) {
	var cfg upstream.EmbeddedConfig
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	require.Equal(t, upstream.EmbeddedConfig{Dir: "./data", Retention: 24 * time.Hour}, cfg)
	require.NoError(t, cfg.Validate())

	for name, bad := range map[string]upstream.EmbeddedConfig{
		"empty dir":          {},
		"negative ooo":       {Dir: "d", OutOfOrderTimeWindow: -time.Minute},
		"negative retention": {Dir: "d", Retention: -time.Hour},
	} {
		t.Run(name, func(t *testing.T) { require.Error(t, bad.Validate()) })
	}
}

func TestEmbedded_Push(t *testing.T) {
	type push struct {
		body        []byte
		contentType string
		status      int
		bodyPrefix  string    // the whole body when it is a 200
		written     [3]string // the remote write 2.0 written headers
	}
	tests := map[string]struct {
		oooWindow time.Duration
		pushes    []push
		stored    map[string][]string
		metrics   string
	}{
		"floats and native histograms are appended": {
			pushes: []push{{
				body: embeddedBody(t,
					embeddedFloats(`a`, 1000, 1, 2000, 2),
					embeddedHistograms(`h`, prompb.FromIntHistogram(1000, embeddedHistogram(3))),
					embeddedHistograms(`fh`, prompb.FromFloatHistogram(1000, embeddedHistogram(5).ToFloat(nil))),
				),
				status: http.StatusOK,
			}},
			stored: map[string][]string{
				`{__name__="a"}`:  {"1000:1", "2000:2"},
				`{__name__="h"}`:  {"1000:" + embeddedHistogram(3).String()},
				`{__name__="fh"}`: {"1000:" + embeddedHistogram(5).ToFloat(nil).String()},
			},
			metrics: `
				# HELP pushguard_embedded_appended_samples_total Float samples and native histograms appended to the embedded TSDB.
				# TYPE pushguard_embedded_appended_samples_total counter
				pushguard_embedded_appended_samples_total{tenant="team-a"} 4
			`,
		},
		"conflicting duplicate of a committed sample is a 400, the other samples land": {
			pushes: []push{
				{body: embeddedBody(t, embeddedFloats(`a`, 1000, 1)), status: http.StatusOK},
				{
					body: embeddedBody(t,
						embeddedFloats(`a`, 1000, 2, 2000, 3),
						embeddedFloats(`b`, 1000, 5),
						embeddedHistograms(`h`, prompb.FromIntHistogram(1000, embeddedHistogram(3))),
					),
					status:     http.StatusBadRequest,
					bodyPrefix: `failed pushing to embedded TSDB: series {__name__="a"}, timestamp 1970-01-01T00:00:01Z: duplicate sample for timestamp 1000; overrides not allowed: existing 1, new value 2 (err-pushguard-embedded-sample-duplicate-timestamp)`,
				},
			},
			stored: map[string][]string{
				`{__name__="a"}`: {"1000:1", "2000:3"},
				`{__name__="b"}`: {"1000:5"},
				`{__name__="h"}`: {"1000:" + embeddedHistogram(3).String()},
			},
			metrics: `
				# HELP pushguard_embedded_appended_samples_total Float samples and native histograms appended to the embedded TSDB.
				# TYPE pushguard_embedded_appended_samples_total counter
				pushguard_embedded_appended_samples_total{tenant="team-a"} 4
				# HELP pushguard_embedded_rejected_samples_total Float samples and native histograms the embedded TSDB refused, by reason.
				# TYPE pushguard_embedded_rejected_samples_total counter
				pushguard_embedded_rejected_samples_total{reason="sample-duplicate-timestamp",tenant="team-a"} 1
			`,
		},
		"identical duplicate of a committed sample is accepted": {
			pushes: []push{
				{body: embeddedBody(t, embeddedFloats(`a`, 1000, 1)), status: http.StatusOK},
				{body: embeddedBody(t, embeddedFloats(`a`, 1000, 1)), status: http.StatusOK},
			},
			stored: map[string][]string{`{__name__="a"}`: {"1000:1"}},
		},
		"conflicting duplicate inside one push: first value wins, as in Prometheus": {
			pushes: []push{{
				body:   embeddedBody(t, embeddedFloats(`a`, 1000, 1), embeddedFloats(`a`, 1000, 2)),
				status: http.StatusOK,
			}},
			stored: map[string][]string{`{__name__="a"}`: {"1000:1"}},
		},
		"out of order and out of bounds samples are rejected": {
			pushes: []push{
				{body: embeddedBody(t, embeddedFloats(`a`, embeddedBase, 1)), status: http.StatusOK},
				{
					body: embeddedBody(t,
						embeddedFloats(`a`, embeddedBase-int64(30*time.Minute/time.Millisecond), 2),
						embeddedFloats(`b`, embeddedBase-int64(2*time.Hour/time.Millisecond), 3),
						embeddedFloats(`c`, embeddedBase, 4),
					),
					status:     http.StatusBadRequest,
					bodyPrefix: `failed pushing to embedded TSDB: series {__name__="a"}, timestamp 1970-01-01T09:30:00Z: out of order sample (err-pushguard-embedded-sample-out-of-order)`,
				},
			},
			stored: map[string][]string{
				`{__name__="a"}`: {strconv.FormatInt(embeddedBase, 10) + ":1"},
				`{__name__="c"}`: {strconv.FormatInt(embeddedBase, 10) + ":4"},
			},
			metrics: `
				# HELP pushguard_embedded_rejected_samples_total Float samples and native histograms the embedded TSDB refused, by reason.
				# TYPE pushguard_embedded_rejected_samples_total counter
				pushguard_embedded_rejected_samples_total{reason="sample-out-of-bounds",tenant="team-a"} 1
				pushguard_embedded_rejected_samples_total{reason="sample-out-of-order",tenant="team-a"} 1
			`,
		},
		"out-of-order window accepts older samples": {
			oooWindow: time.Hour,
			pushes: []push{
				{body: embeddedBody(t, embeddedFloats(`a`, embeddedBase, 1)), status: http.StatusOK},
				{body: embeddedBody(t, embeddedFloats(`a`, embeddedBase-int64(30*time.Minute/time.Millisecond), 2)), status: http.StatusOK},
				{
					body:       embeddedBody(t, embeddedFloats(`a`, embeddedBase-int64(2*time.Hour/time.Millisecond), 3)),
					status:     http.StatusBadRequest,
					bodyPrefix: `failed pushing to embedded TSDB: series {__name__="a"}, timestamp 1970-01-01T08:00:00Z: too old sample (err-pushguard-embedded-sample-too-old)`,
				},
			},
			stored: map[string][]string{
				`{__name__="a"}`: {strconv.FormatInt(embeddedBase-int64(30*time.Minute/time.Millisecond), 10) + ":2", strconv.FormatInt(embeddedBase, 10) + ":1"},
			},
		},
		"labels are sorted and empty values dropped": {
			pushes: []push{{
				body: embeddedBody(t, prompb.TimeSeries{
					Labels:  []prompb.Label{{Name: "zone", Value: "z"}, {Name: "empty", Value: ""}, {Name: "__name__", Value: "m"}, {Name: "job", Value: "j"}},
					Samples: []prompb.Sample{{Timestamp: 1000, Value: 7}},
				}),
				status: http.StatusOK,
			}},
			stored: map[string][]string{`{__name__="m", job="j", zone="z"}`: {"1000:7"}},
		},
		"series without metric name is rejected, the others land": {
			pushes: []push{{
				body: embeddedBody(t,
					prompb.TimeSeries{Labels: []prompb.Label{{Name: "job", Value: "j"}}, Samples: []prompb.Sample{{Timestamp: 1000, Value: 1}}},
					embeddedFloats(`a`, 1000, 2),
				),
				status:     http.StatusBadRequest,
				bodyPrefix: `failed pushing to embedded TSDB: series {job="j"}: series has no metric name (err-pushguard-embedded-missing-metric-name)`,
			}},
			stored: map[string][]string{`{__name__="a"}`: {"1000:2"}},
		},
		"invalid native histogram is rejected": {
			pushes: []push{{
				body: embeddedBody(t, embeddedHistograms(`h`, prompb.FromIntHistogram(1000, &histogram.Histogram{
					Count: 1, Sum: 1, PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}}, PositiveBuckets: []int64{1},
				}))),
				status:     http.StatusBadRequest,
				bodyPrefix: `failed pushing to embedded TSDB: series {__name__="h"}, timestamp 1970-01-01T00:00:01Z: `,
			}},
			stored: map[string][]string{},
			metrics: `
				# HELP pushguard_embedded_rejected_samples_total Float samples and native histograms the embedded TSDB refused, by reason.
				# TYPE pushguard_embedded_rejected_samples_total counter
				pushguard_embedded_rejected_samples_total{reason="invalid-native-histogram",tenant="team-a"} 1
			`,
		},
		"a native histogram whose zero threshold PromQL cannot add is refused, the others land": {
			pushes: []push{{
				body: embeddedBody(t,
					embeddedHistograms(`nan`, prompb.FromIntHistogram(1000, withZeroThreshold(embeddedHistogram(3), math.NaN()))),
					embeddedHistograms(`negative`, prompb.FromFloatHistogram(1000, withZeroThreshold(embeddedHistogram(3), -1).ToFloat(nil))),
					embeddedHistograms(`inf`, prompb.FromIntHistogram(1000, withZeroThreshold(embeddedHistogram(3), math.Inf(1)))),
					embeddedFloats(`a`, 1000, 2),
				),
				status:     http.StatusBadRequest,
				bodyPrefix: `failed pushing to embedded TSDB: series {__name__="nan"}, timestamp 1970-01-01T00:00:01Z: native histogram zero threshold is not a finite number >= 0: NaN (err-pushguard-embedded-invalid-native-histogram)`,
			}},
			stored: map[string][]string{`{__name__="a"}`: {"1000:2"}},
			metrics: `
				# HELP pushguard_embedded_rejected_samples_total Float samples and native histograms the embedded TSDB refused, by reason.
				# TYPE pushguard_embedded_rejected_samples_total counter
				pushguard_embedded_rejected_samples_total{reason="invalid-native-histogram",tenant="team-a"} 3
			`,
		},
		"body that is not snappy": {
			pushes: []push{{body: []byte("\xff\xff\xff\xff\xff\xff"), status: http.StatusBadRequest, bodyPrefix: "decoding snappy body: "}},
			stored: map[string][]string{},
		},
		"body that is not a WriteRequest": {
			pushes: []push{{body: snappy.Encode(nil, []byte("\x0a\x05ab")), status: http.StatusBadRequest, bodyPrefix: "decoding remote-write 1.0 request: "}},
			stored: map[string][]string{},
		},
		"an unknown remote-write message is refused": {
			pushes: []push{{
				body:        embeddedBody(t, embeddedFloats(`a`, 1000, 1)),
				contentType: "application/x-protobuf;proto=io.prometheus.write.v3.Request",
				status:      http.StatusUnsupportedMediaType,
				bodyPrefix:  `unsupported remote-write message "io.prometheus.write.v3.Request"`,
			}},
			stored: map[string][]string{},
		},
		"remote write 2.0 is appended and answered with written counts": {
			pushes: []push{{
				body:        embeddedBodyV2(t),
				contentType: "application/x-protobuf;proto=io.prometheus.write.v2.Request",
				status:      http.StatusOK,
				written:     [3]string{"2", "1", "0"},
			}},
			stored: map[string][]string{
				`{__name__="a", job="x"}`: {"1000:1", "2000:2"},
				`{__name__="h"}`:          {"1000:" + embeddedHistogram(3).String()},
			},
		},
		"remote write 2.0 partial write counts what was written": {
			pushes: []push{{
				body:        embeddedBodyV2(t),
				contentType: "application/x-protobuf;proto=io.prometheus.write.v2.Request",
				status:      http.StatusOK,
				written:     [3]string{"2", "1", "0"},
			}, {
				body:        embeddedBodyV2(t, 7),
				contentType: "application/x-protobuf;proto=io.prometheus.write.v2.Request",
				status:      http.StatusBadRequest,
				bodyPrefix:  "failed pushing to embedded TSDB: ",
				// 1000:7 conflicts; the identical 2000:2 and histogram are
				// accepted, as Prometheus' TSDB accepts identical resends.
				written: [3]string{"1", "1", "0"},
			}},
			stored: map[string][]string{
				`{__name__="a", job="x"}`: {"1000:1", "2000:2"},
				`{__name__="h"}`:          {"1000:" + embeddedHistogram(3).String()},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			e := startEmbeddedWith(t, upstream.EmbeddedConfig{Dir: t.TempDir(), OutOfOrderTimeWindow: tc.oooWindow}, reg)
			for i, p := range tc.pushes {
				h := http.Header{}
				if p.contentType != "" {
					h.Set("Content-Type", p.contentType)
				}
				resp, err := e.Push(context.Background(), &upstream.Request{Tenant: embeddedTenant, Header: h, Body: p.body})
				require.NoError(t, err, "push %d", i)
				require.Equal(t, p.status, resp.StatusCode, "push %d: %s", i, resp.Body)
				if p.status == http.StatusOK {
					require.Empty(t, resp.Body, "push %d", i)
				} else {
					require.True(t, strings.HasPrefix(string(resp.Body), p.bodyPrefix), "push %d: got %q", i, resp.Body)
				}
				require.Equal(t, p.written, [3]string{
					resp.Header.Get("X-Prometheus-Remote-Write-Samples-Written"),
					resp.Header.Get("X-Prometheus-Remote-Write-Histograms-Written"),
					resp.Header.Get("X-Prometheus-Remote-Write-Exemplars-Written"),
				}, "push %d", i)
			}
			require.Equal(t, tc.stored, readEmbedded(t, e, embeddedTenant))
			if tc.metrics != "" {
				names := []string{"pushguard_embedded_appended_samples_total", "pushguard_embedded_rejected_samples_total"}
				require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(tc.metrics), metricsIn(tc.metrics, names)...))
			}
		})
	}
}

func TestEmbedded_TenantsAreIsolated(t *testing.T) {
	dir := t.TempDir()
	e := startEmbedded(t, dir, nil)
	for tenantID, v := range map[string]float64{"team-a": 1, "team-b": 2} {
		resp, err := e.Push(context.Background(), &upstream.Request{Tenant: tenantID, Body: embeddedBody(t, embeddedFloats(`a`, 1000, v))})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(resp.Body))
	}
	require.Equal(t, map[string][]string{`{__name__="a"}`: {"1000:1"}}, readEmbedded(t, e, "team-a"))
	require.Equal(t, map[string][]string{`{__name__="a"}`: {"1000:2"}}, readEmbedded(t, e, "team-b"))
	require.Equal(t, map[string][]string{}, readEmbedded(t, e, "team-c"))
	for _, tenantID := range []string{"team-a", "team-b"} {
		require.DirExists(t, filepath.Join(dir, tenantID))
	}
	require.NoDirExists(t, filepath.Join(dir, "team-c"), "a read creates no TSDB")
}

func TestEmbedded_ConcurrentPushesOpenEachTenantOnce(t *testing.T) {
	e := startEmbedded(t, t.TempDir(), nil)
	tenants := []string{"t1", "t2", "t3"}
	var wg sync.WaitGroup
	for _, tenantID := range tenants {
		for i := range 8 {
			body := embeddedBody(t, embeddedFloats("m"+strconv.Itoa(i), 1000, i))
			wg.Go(func() {
				resp, err := e.Push(context.Background(), &upstream.Request{Tenant: tenantID, Body: body})
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, http.StatusOK, resp.StatusCode, string(resp.Body))
			})
		}
	}
	wg.Wait()
	for _, tenantID := range tenants {
		require.Len(t, readEmbedded(t, e, tenantID), 8, tenantID)
	}
}

func TestEmbedded_InvalidTenant(t *testing.T) {
	for _, tenantID := range []string{"", ".", "..", "../x", "a/b", `a\b`, "/abs", "x y", strings.Repeat("a", 151)} {
		t.Run(strconv.Quote(tenantID), func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "data")
			e := startEmbedded(t, dir, nil)

			resp, err := e.Push(context.Background(), &upstream.Request{Tenant: tenantID, Body: embeddedBody(t, embeddedFloats(`a`, 1000, 1))})
			require.NoError(t, err)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			require.Contains(t, string(resp.Body), "(err-pushguard-embedded-invalid-tenant)")

			_, err = e.Queryable(tenantID)
			require.ErrorIs(t, err, upstream.ErrInvalidTenantID)

			// Nothing was created, neither in the data directory nor next to it.
			for _, d := range []string{root, dir} {
				entries, err := os.ReadDir(d)
				require.NoError(t, err)
				require.LessOrEqual(t, len(entries), 1, "%s: %v", d, entries)
			}
		})
	}
}

// TestEmbedded_QueryCreatesNothing: reading a tenant that never pushed
// answers nothing and leaves no TSDB behind, however many tenant IDs a
// reader tries.
func TestEmbedded_QueryCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	e := startEmbedded(t, dir, nil)
	require.Empty(t, readEmbedded(t, e, "never-pushed"))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)

	// A tenant that pushed is read, also after a restart.
	resp, err := e.Push(context.Background(), &upstream.Request{Tenant: embeddedTenant, Body: embeddedBody(t, embeddedFloats(`a`, 1000, 1))})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, readEmbedded(t, e, embeddedTenant), 1)
	require.NoError(t, services.StopAndAwaitTerminated(context.Background(), e))
	e = startEmbedded(t, dir, nil)
	require.Len(t, readEmbedded(t, e, embeddedTenant), 1)
}

func TestEmbedded_DataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := startEmbedded(t, dir, nil)
	resp, err := e.Push(context.Background(), &upstream.Request{Tenant: embeddedTenant, Body: embeddedBody(t, embeddedFloats(`a`, 1000, 1))})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, services.StopAndAwaitTerminated(context.Background(), e))

	_, err = e.Push(context.Background(), &upstream.Request{Tenant: embeddedTenant, Body: embeddedBody(t, embeddedFloats(`a`, 2000, 2))})
	require.Error(t, err, "a stopped upstream has no answer")

	e = startEmbedded(t, dir, nil)
	require.Equal(t, map[string][]string{`{__name__="a"}`: {"1000:1"}}, readEmbedded(t, e, embeddedTenant))
}

func startEmbedded(t *testing.T, dir string, reg prometheus.Registerer) *upstream.Embedded {
	t.Helper()
	return startEmbeddedWith(t, upstream.EmbeddedConfig{Dir: dir, Retention: 24 * time.Hour}, reg)
}

func startEmbeddedWith(t *testing.T, cfg upstream.EmbeddedConfig, reg prometheus.Registerer) *upstream.Embedded {
	t.Helper()
	e, err := upstream.NewEmbedded(cfg, log.NewNopLogger(), reg)
	require.NoError(t, err)
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), e))
	t.Cleanup(func() {
		if e.State() == services.Running {
			require.NoError(t, services.StopAndAwaitTerminated(context.Background(), e))
		}
	})
	return e
}

// readEmbedded returns every sample of the tenant as "<ts>:<value>" by
// series; histograms are rendered with their String method.
func readEmbedded(t *testing.T, e *upstream.Embedded, tenantID string) map[string][]string {
	t.Helper()
	q, err := e.Queryable(tenantID)
	require.NoError(t, err)
	querier, err := q.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer querier.Close()

	out := map[string][]string{}
	set := querier.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+"))
	for set.Next() {
		s := set.At()
		var got []string
		it := s.Iterator(nil)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			switch vt {
			case chunkenc.ValFloat:
				ts, v := it.At()
				got = append(got, strconv.FormatInt(ts, 10)+":"+strconv.FormatFloat(v, 'f', -1, 64))
			case chunkenc.ValHistogram:
				ts, h := it.AtHistogram(nil)
				got = append(got, strconv.FormatInt(ts, 10)+":"+h.String())
			case chunkenc.ValFloatHistogram:
				ts, fh := it.AtFloatHistogram(nil)
				got = append(got, strconv.FormatInt(ts, 10)+":"+fh.String())
			}
		}
		require.NoError(t, it.Err())
		out[s.Labels().String()] = got
	}
	require.NoError(t, set.Err())
	return out
}

func embeddedBody(t *testing.T, series ...prompb.TimeSeries) []byte {
	t.Helper()
	b, err := (&prompb.WriteRequest{Timeseries: series}).Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, b)
}

// embeddedFloats builds a series named name from timestamp, value pairs.
// embeddedBodyV2 is a remote write 2.0 body with two float samples of
// {__name__="a", job="x"} (the first valued first, default 1) and one
// histogram.
func embeddedBodyV2(t *testing.T, first ...float64) []byte {
	t.Helper()
	v := 1.0
	if len(first) > 0 {
		v = first[0]
	}
	st := writev2.NewSymbolTable()
	req := writev2.Request{Timeseries: []writev2.TimeSeries{
		{
			LabelsRefs: st.SymbolizeLabels(labels.FromStrings("__name__", "a", "job", "x", "empty", ""), nil),
			Samples:    []writev2.Sample{{Value: v, Timestamp: 1000}, {Value: 2, Timestamp: 2000}},
			Exemplars:  []writev2.Exemplar{{LabelsRefs: st.SymbolizeLabels(labels.FromStrings("trace_id", "t"), nil), Value: 1, Timestamp: 1000}},
		},
		{
			LabelsRefs: st.SymbolizeLabels(labels.FromStrings("__name__", "h"), nil),
			Histograms: []writev2.Histogram{writev2.FromIntHistogram(0, 1000, embeddedHistogram(3))},
		},
	}}
	req.Symbols = st.Symbols()
	raw, err := req.Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, raw)
}

func embeddedFloats(name string, tv ...any) prompb.TimeSeries {
	ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: name}}}
	for i := 0; i < len(tv); i += 2 {
		var t int64
		switch v := tv[i].(type) {
		case int:
			t = int64(v)
		case int64:
			t = v
		}
		var f float64
		switch v := tv[i+1].(type) {
		case int:
			f = float64(v)
		case float64:
			f = v
		}
		ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: t, Value: f})
	}
	return ts
}

func embeddedHistograms(name string, hs ...prompb.Histogram) prompb.TimeSeries {
	return prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: name}}, Histograms: hs}
}

// embeddedHistogram is a valid exponential histogram with n observations.
func embeddedHistogram(n uint64) *histogram.Histogram {
	return &histogram.Histogram{
		Schema:          0,
		Count:           n,
		Sum:             float64(n) * 1.5,
		ZeroThreshold:   0.001,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 2}},
		PositiveBuckets: []int64{1, int64(n) - 2},
	}
}

func metricsIn(text string, names []string) []string {
	var out []string
	for _, n := range names {
		if strings.Contains(text, n) {
			out = append(out, n)
		}
	}
	return out
}

func withZeroThreshold(h *histogram.Histogram, threshold float64) *histogram.Histogram {
	h.ZeroThreshold = threshold
	return h
}
