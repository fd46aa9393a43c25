package tests

import (
	"context"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	pushguardv1 "github.com/pushguard/pushguard/proto/pushguard/v1"
	"github.com/pushguard/pushguard/tests/e2e"
)

// writeClientV2 returns Prometheus' own remote-write client in 2.0 mode.
func (inst *instance) writeClientV2(t testing.TB, tenant string) remote.WriteClient {
	t.Helper()
	return e2e.WriteClient(t, inst.url("/api/v1/push"), tenant, remoteapi.WriteV2MessageType)
}

// rw2Push is a remote write 2.0 request as Prometheus builds it, with
// kube-state-metrics' retried Job twice (one conflicting duplicate), a
// counter with an exemplar and metadata, and a native histogram.
func rw2Push(at time.Time) *writev2.Request {
	st := writev2.NewSymbolTable()
	ms := at.UnixMilli()
	ksm := func(v float64) writev2.TimeSeries {
		return writev2.TimeSeries{
			LabelsRefs: st.SymbolizeLabels(labels.FromStrings("__name__", "kube_job_status_failed", "instance", "10.0.0.7:8080", "job", "kube-state-metrics",
				"job_name", "renovate-28883520", "namespace", "renovate", "reason", "BackoffLimitExceeded"), nil),
			Samples:  []writev2.Sample{{Value: v, Timestamp: ms}},
			Metadata: writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE, HelpRef: st.Symbolize("The number of failed pods.")},
		}
	}
	h := &histogram.Histogram{Count: 6, Sum: 9, ZeroThreshold: 0.001, PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}}, PositiveBuckets: []int64{2, 2}}
	req := &writev2.Request{Timeseries: []writev2.TimeSeries{
		ksm(1),
		{
			LabelsRefs: st.SymbolizeLabels(labels.FromStrings("__name__", "http_requests_total", "job", "api", "code", "200"), nil),
			Samples:    []writev2.Sample{{Value: 42, Timestamp: ms - 15000}, {Value: 45, Timestamp: ms}},
			Exemplars:  []writev2.Exemplar{{LabelsRefs: st.SymbolizeLabels(labels.FromStrings("trace_id", "4bf92f3577b34da6"), nil), Value: 1, Timestamp: ms}},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_COUNTER, HelpRef: st.Symbolize("Requests served."), UnitRef: st.Symbolize("requests")},
		},
		{
			LabelsRefs: st.SymbolizeLabels(labels.FromStrings("__name__", "request_duration_seconds", "job", "api"), nil),
			Histograms: []writev2.Histogram{writev2.FromIntHistogram(0, ms, h)},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_HISTOGRAM, HelpRef: st.Symbolize("Request latency.")},
		},
		ksm(0),
	}}
	req.Symbols = st.Symbols()
	return req
}

func storeV2(t *testing.T, c remote.WriteClient, req *writev2.Request) (remote.WriteResponseStats, error) {
	t.Helper()
	raw, err := req.Marshal()
	require.NoError(t, err)
	return c.Store(context.Background(), snappy.Encode(nil, raw), 0)
}

func TestRW2IntoEmbedded(t *testing.T) {
	for _, action := range []string{"report", "keep-first"} {
		t.Run(action, func(t *testing.T) {
			inst := startPushguard(t, "-validator.action="+action)
			c := inst.writeClientV2(t, "team-a")
			at := time.Now().Truncate(time.Second)

			stats, err := storeV2(t, c, rw2Push(at))
			require.NoError(t, err)
			// Everything counts as written: under report the TSDB took the
			// conflicting duplicate into its commit (first value wins); under
			// keep-first pushguard removed it on purpose. The embedded TSDB
			// keeps no exemplars, and says so.
			require.True(t, stats.Confirmed)
			require.Equal(t, 4, stats.Samples)
			require.Equal(t, 1, stats.Histograms)
			require.Equal(t, 0, stats.Exemplars)

			rep := inst.offenders(t, "team-a", "")
			require.Len(t, rep.Offenders, 1)
			o := rep.Offenders[0]
			require.Equal(t, "kube_job_status_failed", o.Metric)
			require.Equal(t, "across_series", o.Kind)
			require.EqualValues(t, 1, o.ConflictingSamples)
			require.Equal(t, action, o.Action)
			require.Equal(t, []any{1.0, 0.0}, o.Example.Values)
			require.Equal(t, "renovate", o.Origin["namespace"])

			got := inst.query(t, "team-a", `{__name__=~"kube_job_status_failed|http_requests_total"} or histogram_count(request_duration_seconds)`, at)
			require.Equal(t, map[string]string{
				`kube_job_status_failed{instance="10.0.0.7:8080", job="kube-state-metrics", job_name="renovate-28883520", namespace="renovate", reason="BackoffLimitExceeded"}`: "1",
				`http_requests_total{code="200", job="api"}`: "45",
				`{job="api"}`: "6",
			}, got)
		})
	}
}

// rw1OnlyUpstream is a remote-write receiver that speaks 1.0 only, as
// Mimir before 2.17: it answers 415 to 2.0 and records what it accepts.
type rw1OnlyUpstream struct {
	mu       sync.Mutex
	refused  int
	accepted []prompb.WriteRequest
}

func (u *rw1OnlyUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, params, _ := parseContentType(r.Header.Get("Content-Type"))
	if p, ok := params["proto"]; ok && p != "prometheus.WriteRequest" {
		u.mu.Lock()
		u.refused++
		u.mu.Unlock()
		http.Error(w, "unsupported proto "+p, http.StatusUnsupportedMediaType)
		return
	}
	body, _ := io.ReadAll(r.Body)
	wr, err := decodeWriteRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	u.mu.Lock()
	u.accepted = append(u.accepted, wr)
	u.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func TestRW2IntoRW1OnlyUpstream(t *testing.T) {
	up := &rw1OnlyUpstream{}
	srv := httptest.NewServer(up)
	defer srv.Close()
	inst := startPushguard(t, "-upstream.url="+srv.URL+"/api/v1/push", "-validator.action=keep-first")
	c := inst.writeClientV2(t, "team-a")
	at := time.Now().Truncate(time.Second)

	for i := range 2 {
		stats, err := storeV2(t, c, rw2Push(at.Add(time.Duration(i)*time.Minute)))
		require.NoError(t, err)
		require.Equal(t, remote.WriteResponseStats{Samples: 4, Histograms: 1, Exemplars: 1, Confirmed: true}, stats,
			"the sender hears everything written, the duplicate pushguard removed included")
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	require.Equal(t, 1, up.refused, "the first 415 is remembered")
	require.Len(t, up.accepted, 2)

	for i, got := range up.accepted {
		ms := at.Add(time.Duration(i) * time.Minute).UnixMilli()
		want := rw2Push(at.Add(time.Duration(i) * time.Minute))
		require.Len(t, got.Timeseries, 3, "the conflicting kube_job_status_failed series is gone")
		b := labels.NewScratchBuilder(0)
		for k, ts := range got.Timeseries {
			wts := want.Timeseries[k]
			wl, err := wts.ToLabels(&b, want.Symbols)
			require.NoError(t, err)
			require.Equal(t, wl, labelsOf(ts.Labels))
			require.Len(t, ts.Samples, len(wts.Samples))
			for s := range wts.Samples {
				require.Equal(t, math.Float64bits(wts.Samples[s].Value), math.Float64bits(ts.Samples[s].Value))
				require.Equal(t, wts.Samples[s].Timestamp, ts.Samples[s].Timestamp)
			}
			require.Len(t, ts.Histograms, len(wts.Histograms))
			for h := range wts.Histograms {
				require.Equal(t, wts.Histograms[h].ToIntHistogram(), ts.Histograms[h].ToIntHistogram())
				require.Equal(t, ms, ts.Histograms[h].Timestamp)
			}
			require.Len(t, ts.Exemplars, len(wts.Exemplars))
			for e := range wts.Exemplars {
				we, err := wts.Exemplars[e].ToExemplar(&b, want.Symbols)
				require.NoError(t, err)
				require.Equal(t, we.Labels, labelsOf(ts.Exemplars[e].Labels))
				require.Equal(t, we.Value, ts.Exemplars[e].Value)
				require.Equal(t, we.Ts, ts.Exemplars[e].Timestamp)
			}
		}
		require.Equal(t, []prompb.MetricMetadata{
			{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "kube_job_status_failed", Help: "The number of failed pods."},
			{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "http_requests_total", Help: "Requests served.", Unit: "requests"},
			{Type: prompb.MetricMetadata_HISTOGRAM, MetricFamilyName: "request_duration_seconds", Help: "Request latency."},
		}, got.Metadata)
	}

	rep := inst.offenders(t, "team-a", "")
	require.Len(t, rep.Offenders, 1)
	require.Equal(t, "keep-first", rep.Offenders[0].Action)
	require.EqualValues(t, 2, rep.Offenders[0].DroppedSamples)
}

func labelsOf(pl []prompb.Label) labels.Labels {
	b := labels.NewScratchBuilder(len(pl))
	for _, l := range pl {
		b.Add(l.Name, l.Value)
	}
	b.Sort()
	return b.Labels()
}

func TestRW2Negotiation(t *testing.T) {
	inst := startPushguard(t)
	raw, err := rw2Push(time.Now()).Marshal()
	require.NoError(t, err)
	body := snappy.Encode(nil, raw)
	for name, tc := range map[string]struct {
		contentType string
		status      int
		id          string
	}{
		"rw2":           {"application/x-protobuf;proto=io.prometheus.write.v2.Request", http.StatusNoContent / 100, ""},
		"unknown proto": {"application/x-protobuf;proto=io.prometheus.write.v3.Request", http.StatusUnsupportedMediaType, "unsupported-content-type"},
	} {
		t.Run(name, func(t *testing.T) {
			status, msg := inst.rawPush(t, body, map[string]string{"Content-Type": tc.contentType, "Content-Encoding": "snappy", "X-Scope-OrgID": "t"})
			if tc.id == "" {
				require.Equal(t, tc.status, status/100, msg)
				return
			}
			require.Equal(t, tc.status, status, msg)
			require.Contains(t, msg, "(err-pushguard-"+tc.id+")")
		})
	}
	// An out-of-range symbol reference is a 400 naming the series.
	bad := writev2.Request{Symbols: []string{"", "__name__", "up"}, Timeseries: []writev2.TimeSeries{
		{LabelsRefs: []uint32{1, 2}, Samples: []writev2.Sample{{Value: 1, Timestamp: 1}}},
		{LabelsRefs: []uint32{1, 40}, Samples: []writev2.Sample{{Value: 1, Timestamp: 1}}},
	}}
	raw, err = bad.Marshal()
	require.NoError(t, err)
	status, msg := inst.rawPush(t, snappy.Encode(nil, raw), map[string]string{"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request", "X-Scope-OrgID": "t"})
	require.Equal(t, http.StatusBadRequest, status, msg)
	require.Contains(t, msg, "timeseries 1")
	require.Contains(t, msg, "(err-pushguard-bad-protobuf)")
}

func parseContentType(ct string) (string, map[string]string, error) {
	if ct == "" {
		return "", map[string]string{}, nil
	}
	return mime.ParseMediaType(ct)
}

// TestRW2ValidateRawBody: the gRPC dry run takes a remote write 2.0 body
// with its Content-Type, as the HTTP receiver does.
func TestRW2ValidateRawBody(t *testing.T) {
	inst := startPushguard(t)
	conn, err := grpc.NewClient(inst.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pushguardv1.NewValidatorServiceClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-scope-orgid", "team-a")

	raw, err := rw2Push(time.Now()).Marshal()
	require.NoError(t, err)
	resp, err := client.Validate(ctx, &pushguardv1.ValidateRequest{
		Action: "keep-first",
		Payload: &pushguardv1.ValidateRequest_RawBody{RawBody: &pushguardv1.RawBody{
			Body:        snappy.Encode(nil, raw),
			ContentType: "application/x-protobuf;proto=io.prometheus.write.v2.Request",
		}},
	})
	require.NoError(t, err)
	require.Len(t, resp.Offenders, 1)
	require.Equal(t, "kube_job_status_failed", resp.Offenders[0].Metric)
	require.EqualValues(t, 1, resp.Counts.Dropped)
	require.True(t, resp.Changed)
	// The message form is remote write 1.0; the body stays 2.0.
	require.Len(t, resp.PatchedRequest.GetTimeseries(), 3)
	body, err := snappy.Decode(nil, resp.PatchedBody)
	require.NoError(t, err)
	var patched writev2.Request
	require.NoError(t, patched.Unmarshal(body))
	require.Len(t, patched.Timeseries, 3, "the conflicting repeat is gone")

	_, err = client.Validate(ctx, &pushguardv1.ValidateRequest{Payload: &pushguardv1.ValidateRequest_RawBody{RawBody: &pushguardv1.RawBody{
		Body: snappy.Encode(nil, raw), ContentType: "application/x-protobuf;proto=io.prometheus.write.v3.Request",
	}}})
	require.Equal(t, codes.InvalidArgument, grpcstatus.Code(err), "%v", err)
	require.Contains(t, err.Error(), "(err-pushguard-unsupported-content-type)")
}
