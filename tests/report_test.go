package tests

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	pushguardv1 "github.com/pushguard/pushguard/proto/pushguard/v1"
)

// pushSeries pushes series as tenant with extra headers, raw body suffix
// appended to the protobuf (to set fields prompb lacks).
func pushSeries(t testing.TB, inst *instance, tenant string, headers map[string]string, suffix []byte, series ...prompb.TimeSeries) {
	t.Helper()
	wr := prompb.WriteRequest{Timeseries: series}
	raw, err := wr.Marshal()
	require.NoError(t, err)
	h := map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy", "X-Scope-OrgID": tenant}
	for k, v := range headers {
		h[k] = v
	}
	status, body := inst.rawPush(t, snappyEncode(append(raw, suffix...)), h)
	require.Equal(t, http.StatusOK, status, body)
}

func getBody(t testing.TB, url string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReportTenantIsolationHTTP(t *testing.T) {
	inst := startPushguard(t, "-report.trusted-proxies=127.0.0.1", "-report.instance-id=pushguard-zone-a-0")
	at := time.Now().Truncate(time.Second)
	// Tenant A: kube-state-metrics through a proxy that names the sender.
	pushSeries(t, inst, "tenant-a", map[string]string{"User-Agent": "Prometheus/3.1.0", "X-Forwarded-For": "198.51.100.7"}, nil,
		ksmJobFailed(1, at), ksmJobFailed(0, at))
	// Tenant B: two recording rules writing one series, from a ruler
	// (WriteRequest.source = RULE, field 2).
	rule := func(v float64) prompb.TimeSeries {
		return ts(v, at, "__name__", "namespace:container_memory_usage_bytes:sum", "namespace", "shop")
	}
	pushSeries(t, inst, "tenant-b", map[string]string{"User-Agent": "mimir-ruler"}, []byte{0x10, 0x01}, rule(1), rule(2))

	a := inst.offenders(t, "tenant-a", "")
	require.Len(t, a.Offenders, 1)
	require.Equal(t, "pushguard-zone-a-0", a.Instance, "the report names the replica it is one of")
	require.Equal(t, "kube_job_status_failed", a.Offenders[0].Metric)
	b := inst.offenders(t, "tenant-b", "")
	require.Len(t, b.Offenders, 1)
	require.Equal(t, "namespace:container_memory_usage_bytes:sum", b.Offenders[0].Metric)
	for _, o := range append(a.Offenders, b.Offenders...) {
		require.NotEqual(t, o.Tenant == "tenant-a", o.Metric != "kube_job_status_failed", "a tenant sees only its own offenders")
	}

	// Origin: the sender's address through the trusted proxy, the ruler's source.
	var full struct {
		Offenders []struct {
			Tenant        string    `json:"tenant"`
			SenderAddress string    `json:"sender_address"`
			Source        string    `json:"source"`
			UserAgent     string    `json:"user_agent"`
			PerMinute     []float64 `json:"per_minute"`
		} `json:"offenders"`
	}
	status, body := getBody(t, inst.url("/admin/api/v1/offenders"), nil)
	require.Equal(t, http.StatusOK, status, body)
	require.NoError(t, json.Unmarshal([]byte(body), &full))
	require.Len(t, full.Offenders, 2, "the operator view spans tenants")
	byTenant := map[string]int{}
	for i, o := range full.Offenders {
		byTenant[o.Tenant] = i
		require.Len(t, o.PerMinute, 60)
		require.EqualValues(t, 1, o.PerMinute[59])
	}
	require.Equal(t, "198.51.100.7", full.Offenders[byTenant["tenant-a"]].SenderAddress)
	require.Equal(t, "", full.Offenders[byTenant["tenant-a"]].Source)
	require.Equal(t, "RULE", full.Offenders[byTenant["tenant-b"]].Source)
	require.Equal(t, "127.0.0.1", full.Offenders[byTenant["tenant-b"]].SenderAddress)

	status, body = getBody(t, inst.url("/admin/api/v1/offenders?tenant=tenant-b"), nil)
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, body, "tenant-a")
	require.Contains(t, body, "tenant-b")

	// No tenant: 401 with the stable ID, on the JSON and on the scoped page.
	status, body = getBody(t, inst.url("/api/v1/offenders"), nil)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, body, "(err-pushguard-missing-tenant)")

	// The HTML report names the ruler's hint.
	status, body = getBody(t, inst.url("/?tenant=tenant-b"), nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `data-metric="namespace:container_memory_usage_bytes:sum"`)
	require.NotContains(t, body, `data-metric="kube_job_status_failed"`)
	require.Contains(t, body, "Reported by replica <code>pushguard-zone-a-0</code>")

	// Over gRPC too: ListOffenders answers the caller's tenant only.
	conn, err := grpc.NewClient(inst.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pushguardv1.NewValidatorServiceClient(conn)
	for tenant, metric := range map[string]string{"tenant-a": "kube_job_status_failed", "tenant-b": "namespace:container_memory_usage_bytes:sum"} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "x-scope-orgid", tenant)
		resp, err := client.ListOffenders(ctx, &pushguardv1.ListOffendersRequest{})
		require.NoError(t, err)
		require.Len(t, resp.Offenders, 1, tenant)
		require.Equal(t, tenant, resp.Offenders[0].Tenant)
		require.Equal(t, metric, resp.Offenders[0].Metric)
		require.Equal(t, "pushguard-zone-a-0", resp.Instance)
	}
	_, err = client.ListOffenders(context.Background(), &pushguardv1.ListOffendersRequest{})
	require.Equal(t, codes.Unauthenticated, grpcstatus.Code(err), "%v", err)

	// The aggregated warning names tenant, kind and metric, once per push and kind.
	require.Eventually(t, func() bool {
		return strings.Contains(inst.logs.String(), `msg="duplicate samples in push" tenant=tenant-a kind=across_series conflicting=1 identical=0 metrics=kube_job_status_failed`)
	}, 5*time.Second, 50*time.Millisecond, inst.logs.String())
}

func TestReportAdminDisabled(t *testing.T) {
	inst := startPushguard(t, "-report.admin-enabled=false")
	at := time.Now().Truncate(time.Second)
	pushSeries(t, inst, "tenant-a", nil, nil, ksmJobFailed(1, at), ksmJobFailed(0, at))
	pushSeries(t, inst, "tenant-b", nil, nil, ts(1, at, "__name__", "b_only", "job", "x"), ts(2, at, "__name__", "b_only", "job", "x"))

	status, _ := getBody(t, inst.url("/admin/api/v1/offenders"), nil)
	require.Equal(t, http.StatusNotFound, status)
	status, body := getBody(t, inst.url("/"), nil)
	require.Equal(t, http.StatusUnauthorized, status, body)
	status, body = getBody(t, inst.url("/?tenant=tenant-b"), map[string]string{"X-Scope-OrgID": "tenant-a"})
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `data-metric="kube_job_status_failed"`)
	require.NotContains(t, body, "b_only")
}
