package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/dskit/httpgrpc"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/pushguard/pushguard/grpcapi/rawproto"
	"github.com/pushguard/pushguard/proto/compat/cortexpb"
	"github.com/pushguard/pushguard/proto/compat/distributor"
	pushguardv1 "github.com/pushguard/pushguard/proto/pushguard/v1"
)

// grpcurlPath finds the grpcurl that `make tools` installs into ./bin.
func grpcurlPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../bin/grpcurl")
	require.NoError(t, err)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	p, err = exec.LookPath("grpcurl")
	require.NoError(t, err, "grpcurl not found: run `make tools`")
	return p
}

// grpcurl runs the real grpcurl against inst and returns its output.
func (inst *instance) grpcurl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(grpcurlPath(t), append(append([]string{"-plaintext", "-max-time", "30"}, args[:len(args)-1]...), inst.GRPCAddr, args[len(args)-1])...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), fmt.Errorf("grpcurl %v: %w\n%s", args, err, errOut.String())
	}
	return out.String(), nil
}

// ksmJSON is kube-state-metrics' kube_job_status_failed for a retried Job,
// twice in one request with different values, as grpcurl JSON.
const ksmJSON = `{"action": "keep-first", "write_request": {"timeseries": [
  {"labels": [{"name": "__name__", "value": "kube_job_status_failed"}, {"name": "job", "value": "kube-state-metrics"},
              {"name": "namespace", "value": "renovate"}, {"name": "job_name", "value": "renovate-28883520"},
              {"name": "reason", "value": "BackoffLimitExceeded"}],
   "samples": [{"value": 1, "timestamp_ms": "1795773600000"}]},
  {"labels": [{"name": "__name__", "value": "up"}, {"name": "job", "value": "kube-state-metrics"}],
   "samples": [{"value": 1, "timestamp_ms": "1795773600000"}]},
  {"labels": [{"name": "__name__", "value": "kube_job_status_failed"}, {"name": "job", "value": "kube-state-metrics"},
              {"name": "namespace", "value": "renovate"}, {"name": "job_name", "value": "renovate-28883520"},
              {"name": "reason", "value": "BackoffLimitExceeded"}],
   "samples": [{"value": 0, "timestamp_ms": "1795773600000"}]}
]}}`

func TestGRPCurl(t *testing.T) {
	inst := startPushguard(t)

	out, err := inst.grpcurl(t, "list")
	require.NoError(t, err)
	services := strings.Fields(out)
	require.Contains(t, services, "pushguard.v1.ValidatorService")
	require.Contains(t, services, "distributor.Distributor")
	require.Contains(t, services, "grpc.health.v1.Health")

	out, err = inst.grpcurl(t, "grpc.health.v1.Health/Check")
	require.NoError(t, err)
	require.JSONEq(t, `{"status": "SERVING"}`, out)

	t.Run("Validate", func(t *testing.T) {
		out, err := inst.grpcurl(t, "-H", "x-scope-orgid: team-a", "-d", ksmJSON, "pushguard.v1.ValidatorService/Validate")
		require.NoError(t, err)
		var resp pushguardv1.ValidateResponse
		require.NoError(t, protojson.Unmarshal([]byte(out), &resp), out)

		require.Len(t, resp.Offenders, 1)
		o := resp.Offenders[0]
		require.Equal(t, "team-a", o.Tenant)
		require.Equal(t, "kube_job_status_failed", o.Metric)
		require.Equal(t, "across_series", o.Kind)
		require.Equal(t, map[string]string{"job": "kube-state-metrics", "namespace": "renovate"}, o.Origin)
		require.EqualValues(t, 1, o.ConflictingSamples)
		require.Equal(t, "keep-first", o.Action)
		require.EqualValues(t, 1, o.DroppedSamples)
		require.Equal(t, []float64{1, 0}, o.Example.Values)
		require.Equal(t, []string{"1", "0"}, o.Example.Samples)
		require.EqualValues(t, 3, resp.Counts.Series)
		require.EqualValues(t, 3, resp.Counts.Samples)
		require.EqualValues(t, 1, resp.Counts.AcrossSeries.Conflicting)
		require.EqualValues(t, 1, resp.Counts.Dropped)
		require.True(t, resp.Changed)

		// The patched request holds the first value of the group only, and
		// everything else untouched.
		var got []string
		for _, ts := range resp.PatchedRequest.Timeseries {
			for _, s := range ts.Samples {
				got = append(got, fmt.Sprintf("%s=%g", ts.Labels[0].Value, s.Value))
			}
		}
		require.Equal(t, []string{"kube_job_status_failed=1", "up=1"}, got)

		// A dry run records nothing.
		require.Empty(t, inst.offenders(t, "team-a", "").Offenders)
	})

	// A dry run looks up what pushes forwarded, as a push would, and
	// teaches the record nothing.
	t.Run("Validate sees across_requests", func(t *testing.T) {
		at := time.Now().Truncate(time.Second)
		require.NoError(t, push(t, inst.writeClient(t, "team-c"), ts(1, at, "__name__", "up", "job", "a")))
		validate := func(at time.Time) *pushguardv1.ValidateResponse {
			t.Helper()
			req := fmt.Sprintf(`{"action": "keep-first", "write_request": {"timeseries": [
			  {"labels": [{"name": "__name__", "value": "up"}, {"name": "job", "value": "a"}], "samples": [{"value": 1, "timestamp_ms": "%d"}]}]}}`, at.UnixMilli())
			out, err := inst.grpcurl(t, "-H", "x-scope-orgid: team-c", "-d", req, "pushguard.v1.ValidatorService/Validate")
			require.NoError(t, err)
			var resp pushguardv1.ValidateResponse
			require.NoError(t, protojson.Unmarshal([]byte(out), &resp), out)
			return &resp
		}
		resp := validate(at)
		require.EqualValues(t, 1, resp.Counts.AcrossRequests.Identical)
		require.True(t, resp.Changed)
		require.Empty(t, resp.PatchedRequest.Timeseries, "keep-first drops what the upstream has")

		later := at.Add(time.Second)
		require.Zero(t, validate(later).Counts.AcrossRequests.GetIdentical())
		require.Zero(t, validate(later).Counts.AcrossRequests.GetIdentical(), "the first dry run recorded nothing")
	})

	// Validate re-encodes its write_request message with protobuf-go,
	// which writes a histogram's fields in another order than Prometheus.
	t.Run("Validate sees a histogram Prometheus pushed as identical", func(t *testing.T) {
		at := time.Now().Truncate(time.Second)
		h := prompb.FromIntHistogram(at.UnixMilli(), &histogram.Histogram{
			Count: 5, Sum: 7.5, ZeroThreshold: 0.001,
			PositiveSpans: []histogram.Span{{Offset: 0, Length: 1}}, PositiveBuckets: []int64{5},
		})
		require.NoError(t, push(t, inst.writeClient(t, "team-h"), prompb.TimeSeries{
			Labels:     []prompb.Label{{Name: "__name__", Value: "latency_seconds"}, {Name: "job", Value: "a"}},
			Histograms: []prompb.Histogram{h},
		}))
		req := fmt.Sprintf(`{"write_request": {"timeseries": [{"labels": [{"name": "__name__", "value": "latency_seconds"}, {"name": "job", "value": "a"}],
		  "histograms": [{"count_int": "5", "sum": 7.5, "zero_threshold": 0.001, "zero_count_int": "0",
		    "positive_spans": [{"offset": 0, "length": 1}], "positive_deltas": ["5"], "timestamp": "%d"}]}]}}`, at.UnixMilli())
		out, err := inst.grpcurl(t, "-H", "x-scope-orgid: team-h", "-d", req, "pushguard.v1.ValidatorService/Validate")
		require.NoError(t, err)
		var resp pushguardv1.ValidateResponse
		require.NoError(t, protojson.Unmarshal([]byte(out), &resp), out)
		require.EqualValues(t, 1, resp.Counts.AcrossRequests.GetIdentical(), out)
		require.Zero(t, resp.Counts.AcrossRequests.GetConflicting(), out)
	})

	t.Run("ListOffenders equals the HTTP report", func(t *testing.T) {
		at := time.Now().Truncate(time.Second)
		require.NoError(t, push(t, inst.writeClient(t, "team-b"), ksmJobFailed(1, at), ksmJobFailed(0, at),
			prompb.TimeSeries{
				Labels:  []prompb.Label{{Name: "__name__", Value: "container_spec_cpu_period"}, {Name: "job", Value: "cadvisor"}},
				Samples: []prompb.Sample{{Value: 100000, Timestamp: at.UnixMilli()}, {Value: 100000, Timestamp: at.UnixMilli()}},
			}))
		httpRep := inst.offenders(t, "team-b", "")
		require.Len(t, httpRep.Offenders, 2)

		out, err := inst.grpcurl(t, "-H", "x-scope-orgid: team-b", "pushguard.v1.ValidatorService/ListOffenders")
		require.NoError(t, err)
		var resp pushguardv1.ListOffendersResponse
		require.NoError(t, protojson.Unmarshal([]byte(out), &resp), out)
		grpcRep := offendersBodyOf(&resp)
		for i := range httpRep.Offenders {
			// The per-minute history ends with the minute it is read in.
			require.Len(t, httpRep.Offenders[i].PerMinute, 60)
			require.Len(t, grpcRep.Offenders[i].PerMinute, 60)
			httpRep.Offenders[i].PerMinute, grpcRep.Offenders[i].PerMinute = nil, nil
			require.NotEmpty(t, httpRep.Offenders[i].ID)
			require.Equal(t, "127.0.0.1", httpRep.Offenders[i].SenderAddress)
		}
		require.Equal(t, httpRep, grpcRep)
		// Each names the replica it is one of: by default its hostname.
		host, err := os.Hostname()
		require.NoError(t, err)
		require.Equal(t, host, httpRep.Instance)

		out, err = inst.grpcurl(t, "-H", "x-scope-orgid: team-b", "-d", `{"origin": {"job": "cadvisor"}}`, "pushguard.v1.ValidatorService/ListOffenders")
		require.NoError(t, err)
		resp.Reset()
		require.NoError(t, protojson.Unmarshal([]byte(out), &resp), out)
		require.Len(t, resp.Offenders, 1)
		require.Equal(t, "container_spec_cpu_period", resp.Offenders[0].Metric)

		out, err = inst.grpcurl(t, "-H", "x-scope-orgid: team-b", "-d", `{"kind": "within_series"}`, "pushguard.v1.ValidatorService/ListOffenders")
		require.NoError(t, err)
		resp.Reset()
		require.NoError(t, protojson.Unmarshal([]byte(out), &resp), out)
		require.Equal(t, withoutPerMinute(inst.offenders(t, "team-b", "kind=within_series")), withoutPerMinute(offendersBodyOf(&resp)))

		out, err = inst.grpcurl(t, "-H", "x-scope-orgid: team-b", "-d", `{"origin": {" job ": "cadvisor"}}`, "pushguard.v1.ValidatorService/ListOffenders")
		require.NoError(t, err)
		resp.Reset()
		require.NoError(t, protojson.Unmarshal([]byte(out), &resp), out)
		require.Len(t, resp.Offenders, 1, "spaces around a name are not part of it, as over HTTP")

		out, err = inst.grpcurl(t, "-H", "x-scope-orgid: team-b", "-d", `{"origin": {"": "cadvisor"}}`, "pushguard.v1.ValidatorService/ListOffenders")
		require.Error(t, err, "an origin label without a name, as HTTP refuses it")
		require.Contains(t, out, "InvalidArgument")
		require.Contains(t, out, "(err-pushguard-bad-query)")

		out, err = inst.grpcurl(t, "pushguard.v1.ValidatorService/ListOffenders")
		require.Error(t, err)
		require.Contains(t, out, "Unauthenticated")
		require.Contains(t, out, "(err-pushguard-missing-tenant)")
	})
}

// withoutPerMinute clears the per-minute history, which ends with the
// minute the report is read in, so that two reads compare equal.
func withoutPerMinute(b offendersBody) offendersBody {
	for i := range b.Offenders {
		b.Offenders[i].PerMinute = nil
	}
	return b
}

// offendersBodyOf turns the gRPC report into the HTTP report's shape, by
// way of the HTTP JSON field names, so the two compare field for field.
func offendersBodyOf(resp *pushguardv1.ListOffendersResponse) offendersBody {
	offenders := make([]map[string]any, 0, len(resp.Offenders))
	for _, o := range resp.Offenders {
		offenders = append(offenders, map[string]any{
			"tenant": o.Tenant, "metric": o.Metric, "kind": o.Kind, "origin": o.Origin,
			"conflicting_samples": o.ConflictingSamples, "identical_samples": o.IdenticalSamples,
			"first_seen": o.FirstSeen.AsTime(), "last_seen": o.LastSeen.AsTime(), "action": o.Action,
			"dropped_samples": o.DroppedSamples, "user_agent": o.UserAgent,
			"changed_samples": o.ChangedSamples, "relabelled_samples": o.RelabelledSamples,
			"requested_action": o.RequestedAction, "id": o.Id, "sender_address": o.SenderAddress,
			"source": o.Source, "per_minute": o.PerMinute,
			"example": map[string]any{
				"labels": o.Example.Labels, "first_labels": o.Example.FirstLabels, "timestamp_ms": o.Example.TimestampMs,
				"values": o.Example.Values, "histograms": o.Example.Histograms, "samples": o.Example.Samples,
			},
		})
	}
	b, err := json.Marshal(map[string]any{"offenders": offenders, "evicted_offenders": resp.EvictedOffenders, "instance": resp.Instance})
	if err != nil {
		panic(err)
	}
	var out offendersBody
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// distributorClient returns a client generated from the compat protos,
// as a Mimir component would push with.
func distributorClient(t *testing.T, addr string) distributor.DistributorClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return distributor.NewDistributorClient(conn)
}

func withTenant(tenant string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "x-scope-orgid", tenant)
}

func series(v float64, at time.Time, lbls ...string) *cortexpb.TimeSeries {
	ts := &cortexpb.TimeSeries{Samples: []*cortexpb.Sample{{Value: v, TimestampMs: at.UnixMilli()}}}
	for i := 0; i+1 < len(lbls); i += 2 {
		ts.Labels = append(ts.Labels, &cortexpb.LabelPair{Name: lbls[i], Value: lbls[i+1]})
	}
	return ts
}

func TestGRPCPushIntoEmbedded(t *testing.T) {
	inst := startPushguard(t, "-validator.action=keep-first")
	client := distributorClient(t, inst.GRPCAddr)
	at := time.Now().Truncate(time.Second)

	req := &cortexpb.WriteRequest{Timeseries: []*cortexpb.TimeSeries{
		series(10, at, "__name__", "http_requests_total", "code", "200", "job", "api"),
		series(7, at, "__name__", "http_requests_total", "code", "500", "job", "api"),
		series(20, at, "__name__", "http_requests_total", "code", "200", "job", "api"),
	}}
	_, err := client.Push(withTenant("team-a"), req)
	require.NoError(t, err)

	require.Equal(t, map[string]string{
		`http_requests_total{code="200", job="api"}`: "10",
		`http_requests_total{code="500", job="api"}`: "7",
	}, inst.query(t, "team-a", "http_requests_total", at))
	rep := inst.offenders(t, "team-a", "")
	require.Len(t, rep.Offenders, 1)
	require.EqualValues(t, 1, rep.Offenders[0].DroppedSamples)
	require.Contains(t, rep.Offenders[0].UserAgent, "grpc-go/")

	_, err = client.Push(context.Background(), req)
	require.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "(err-pushguard-missing-tenant)")

	// Two tenants in the metadata: refused, as Mimir's distributor refuses
	// it, rather than the push stored for one of them.
	_, err = client.Push(metadata.AppendToOutgoingContext(context.Background(), "x-scope-orgid", "team-b", "x-scope-orgid", "team-c"), req)
	require.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "2 values of metadata x-scope-orgid, want exactly one tenant (err-pushguard-invalid-tenant)")
	require.Empty(t, inst.query(t, "team-b", "http_requests_total", at))

	// Bytes that are not a write request, sent as Mimir's Push.
	conn, err := grpc.NewClient(inst.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	err = conn.Invoke(withTenant("team-a"), distributor.Distributor_Push_FullMethodName, &cortexpb.Sample{Value: 1, TimestampMs: -1}, &cortexpb.WriteResponse{})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "(err-pushguard-bad-protobuf)")

	// Refusals over gRPC are counted as those over HTTP are.
	for reason, want := range map[string]string{"missing-tenant": "1", "invalid-tenant": "1", "bad-protobuf": "1"} {
		v, ok := inst.metric(t, `pushguard_rejected_requests_total{reason="`+reason+`"}`)
		require.True(t, ok, reason)
		require.Equal(t, want, v, reason)
	}
}

// fakeDistributor is a gRPC server implementing Mimir's
// distributor.Distributor: it records what it receives and answers err.
type fakeDistributor struct {
	distributor.UnimplementedDistributorServer
	mtx      sync.Mutex
	tenants  []string
	requests []*cortexpb.WriteRequest
	err      error
}

func (f *fakeDistributor) Push(ctx context.Context, req *cortexpb.WriteRequest) (*cortexpb.WriteResponse, error) {
	f.mtx.Lock()
	defer f.mtx.Unlock()
	md, _ := metadata.FromIncomingContext(ctx)
	f.tenants = append(f.tenants, strings.Join(md.Get("x-scope-orgid"), ","))
	f.requests = append(f.requests, req)
	if f.err != nil {
		return nil, f.err
	}
	return &cortexpb.WriteResponse{}, nil
}

func (f *fakeDistributor) setErr(err error) {
	f.mtx.Lock()
	defer f.mtx.Unlock()
	f.err = err
}

func (f *fakeDistributor) received() ([]string, []*cortexpb.WriteRequest) {
	f.mtx.Lock()
	defer f.mtx.Unlock()
	return append([]string(nil), f.tenants...), append([]*cortexpb.WriteRequest(nil), f.requests...)
}

func startFakeDistributor(t *testing.T, opts ...grpc.ServerOption) (*fakeDistributor, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(opts...)
	fake := &fakeDistributor{}
	distributor.RegisterDistributorServer(srv, fake)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return fake, l.Addr().String()
}

// TestGRPCUpstreamReport pushes duplicates for a tenant that only
// reports, whose push goes upstream while it is inspected: the distributor
// gets it once, as it came, and the report names the offender.
func TestGRPCUpstreamReport(t *testing.T) {
	fake, inst, client := startWithGRPCUpstream(t)
	at := time.Now().Truncate(time.Second)

	in := &cortexpb.WriteRequest{Timeseries: []*cortexpb.TimeSeries{
		series(1, at, "__name__", "kube_job_status_failed", "job_name", "renovate-1"),
		series(0, at, "__name__", "kube_job_status_failed", "job_name", "renovate-1"),
	}}
	got := pushFirst(t, client, fake, in)
	require.True(t, proto.Equal(in, got), "upstream got %v", got)
	require.Len(t, inst.offenders(t, "team-a", "kind=across_series").Offenders, 1)
}

// startWithGRPCUpstream starts pushguard with args in front of a fake
// distributor, and a client of pushguard's gRPC push.
func startWithGRPCUpstream(t *testing.T, args ...string) (*fakeDistributor, *instance, distributor.DistributorClient) {
	fake, addr := startFakeDistributor(t)
	inst := startPushguard(t, append(args, "-upstream.grpc-address="+addr, "-upstream.timeout=5s")...)
	return fake, inst, distributorClient(t, inst.GRPCAddr)
}

// pushFirst pushes in for team-a, the first push the fake distributor
// gets, and returns what it got.
func pushFirst(t *testing.T, client distributor.DistributorClient, fake *fakeDistributor, in *cortexpb.WriteRequest) *cortexpb.WriteRequest {
	t.Helper()
	_, err := client.Push(withTenant("team-a"), in)
	require.NoError(t, err)
	tenants, reqs := fake.received()
	require.Equal(t, []string{"team-a"}, tenants)
	require.Len(t, reqs, 1)
	return reqs[0]
}

func TestGRPCUpstream(t *testing.T) {
	fake, inst, client := startWithGRPCUpstream(t, "-validator.action=keep-first")
	at := time.Now().Truncate(time.Second)

	rulerPush := &cortexpb.WriteRequest{
		Source: cortexpb.WriteRequest_RULE,
		Timeseries: []*cortexpb.TimeSeries{
			series(1, at, "__name__", "kube_job_status_failed", "job_name", "renovate-1"),
			series(5, at, "__name__", "up", "job", "node"),
			series(0, at, "__name__", "kube_job_status_failed", "job_name", "renovate-1"),
		},
	}
	got := pushFirst(t, client, fake, rulerPush)
	want := &cortexpb.WriteRequest{
		Source: cortexpb.WriteRequest_RULE,
		Timeseries: []*cortexpb.TimeSeries{
			series(1, at, "__name__", "kube_job_status_failed", "job_name", "renovate-1"),
			series(5, at, "__name__", "up", "job", "node"),
		},
	}
	require.True(t, proto.Equal(want, got), "upstream got %v", got)

	// The ruler retries the same push: every sample is already upstream, so
	// keep-first drops them all and the push is answered without reaching
	// the distributor, which would have refused the conflicting value.
	_, err := client.Push(withTenant("team-a"), rulerPush)
	require.NoError(t, err)
	_, reqs := fake.received()
	require.Len(t, reqs, 1)
	require.Len(t, inst.offenders(t, "team-a", "kind=across_requests").Offenders, 2)

	// An HTTP push goes to the gRPC upstream too when -upstream.url is
	// empty.
	require.NoError(t, push(t, inst.writeClient(t, "team-b"), ts(3, at, "__name__", "up", "job", "http")))
	tenants, reqs := fake.received()
	require.Equal(t, []string{"team-a", "team-b"}, tenants)
	require.Equal(t, "http", reqs[1].Timeseries[0].Labels[1].Value)

	// The distributor's Unavailable reaches the client as Unavailable, so
	// it retries, and the push is not recorded until it comes back.
	fake.setErr(status.Error(codes.Unavailable, "ingesters unavailable"))
	dup := &cortexpb.WriteRequest{Timeseries: []*cortexpb.TimeSeries{
		series(1, at, "__name__", "dup", "job", "x"), series(2, at, "__name__", "dup", "job", "x"),
	}}
	_, err = client.Push(withTenant("team-c"), dup)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.Empty(t, inst.offenders(t, "team-c", "").Offenders)

	// Its InvalidArgument is not retried, and the push is recorded.
	fake.setErr(status.Error(codes.InvalidArgument, "out of bounds"))
	_, err = client.Push(withTenant("team-c"), dup)
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "out of bounds")
	require.Len(t, inst.offenders(t, "team-c", "").Offenders, 1)
}

func TestGRPCUpstreamRefused(t *testing.T) {
	inst := startPushguard(t, "-upstream.grpc-address=127.0.0.1:1", "-upstream.timeout=2s")
	_, err := distributorClient(t, inst.GRPCAddr).Push(withTenant("t"), &cortexpb.WriteRequest{Timeseries: []*cortexpb.TimeSeries{series(1, time.Now(), "__name__", "up")}})
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "(err-pushguard-upstream-unavailable)")
}

// TestGRPCServesOnlyItsServices: dskit registers httpgrpc.HTTP on every
// gRPC server, which would answer the HTTP routes, the admin view among
// them, over the gRPC port, past the proxy that guards the HTTP one.
func TestGRPCServesOnlyItsServices(t *testing.T) {
	inst := startPushguard(t)
	out, err := inst.grpcurl(t, "list")
	require.NoError(t, err)
	require.NotContains(t, strings.Fields(out), "httpgrpc.HTTP")

	conn, err := grpc.NewClient(inst.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	for _, url := range []string{"/admin/api/v1/offenders", "/api/v1/offenders", "/metrics"} {
		_, err := httpgrpc.NewHTTPClient(conn).Handle(withTenant("t"), &httpgrpc.HTTPRequest{Method: "GET", Url: url})
		require.Equal(t, codes.Unimplemented, status.Code(err), "%s: %v", url, err)
	}
}

// TestGRPCMalformedRequests: a request that is not its method's message
// is the caller's error, InvalidArgument, which clients do not retry, as
// it is for Distributor/Push; grpc-go's own answer is Internal.
func TestGRPCMalformedRequests(t *testing.T) {
	inst := startPushguard(t)
	conn, err := grpc.NewClient(inst.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()

	// A label value that is not UTF-8, which a protobuf string may not
	// hold: Validate takes such a request as raw_body.
	valid, err := proto.Marshal(&pushguardv1.ValidateRequest{Payload: &pushguardv1.ValidateRequest_WriteRequest{WriteRequest: &cortexpb.WriteRequest{
		Timeseries: []*cortexpb.TimeSeries{series(1, time.Now(), "__name__", "up", "job", "j\x01")},
	}}})
	require.NoError(t, err)
	notUTF8 := bytes.Replace(valid, []byte("j\x01"), []byte("j\xff"), 1)

	for _, tc := range []struct {
		name, method string
		body         []byte
	}{
		{"Validate, not protobuf", pushguardv1.ValidatorService_Validate_FullMethodName, []byte{0xff, 0xff}},
		{"Validate, a label not UTF-8", pushguardv1.ValidatorService_Validate_FullMethodName, notUTF8},
		{"ListOffenders, not protobuf", pushguardv1.ValidatorService_ListOffenders_FullMethodName, []byte{0xff, 0xff, 0xff, 0xff}},
		{"Push, not protobuf", distributor.Distributor_Push_FullMethodName, []byte{0xff, 0xff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out rawproto.Bytes
			err := conn.Invoke(withTenant("t"), tc.method, rawproto.Bytes(tc.body), &out, grpc.ForceCodecV2(rawproto.NewCodec()))
			require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
			require.Contains(t, err.Error(), "(err-pushguard-bad-protobuf)")
		})
	}
	// The refused push, and it alone (the others are no pushes), is
	// warned of, naming its sender.
	refusedRE := regexp.MustCompile(`level=warn .*msg="refused push" reason=bad-protobuf tenant=t user_agent=grpc-go/\S+ sender=127\.0\.0\.1 err=`)
	require.Eventually(t, func() bool { return refusedRE.MatchString(inst.logs.String()) }, 5*time.Second, 20*time.Millisecond, inst.logs.String())
	require.Equal(t, 1, strings.Count(inst.logs.String(), `msg="refused push"`), inst.logs.String())

	// The well-formed request those were made from is answered.
	var resp pushguardv1.ValidateResponse
	var out rawproto.Bytes
	require.NoError(t, conn.Invoke(withTenant("t"), pushguardv1.ValidatorService_Validate_FullMethodName, rawproto.Bytes(valid), &out, grpc.ForceCodecV2(rawproto.NewCodec())))
	require.NoError(t, proto.Unmarshal(out, &resp))
	require.EqualValues(t, 1, resp.Counts.Samples)
	// dskit's request log logs a failed call after the refused push; once
	// its line is there, a line it wrote for the push would be too.
	// (A call without a tenant: the malformed ones above fail before the
	// request log sees them.)
	require.Error(t, conn.Invoke(context.Background(), pushguardv1.ValidatorService_Validate_FullMethodName, rawproto.Bytes(valid), &out, grpc.ForceCodecV2(rawproto.NewCodec())))
	require.Eventually(t, func() bool {
		return strings.Contains(inst.logs.String(), "method=/pushguard.v1.ValidatorService/Validate")
	}, 5*time.Second, 20*time.Millisecond, inst.logs.String())
	require.NotContains(t, inst.logs.String(), "method=/distributor.Distributor/Push", "logged once, by pushguard")
}
