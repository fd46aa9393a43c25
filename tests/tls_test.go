package tests

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/pushguard/pushguard/proto/compat/cortexpb"
	"github.com/pushguard/pushguard/tests/e2e"
)

// TestUpstreamMutualTLS: pushguard forwards to an https upstream that
// requires a client certificate signed by a private CA, given that CA and
// its client certificate with -upstream.tls-*; without them the push is
// answered 503 upstream-unavailable, which the sender retries.
func TestUpstreamMutualTLS(t *testing.T) {
	pki := e2e.NewPKI(t)
	serverCert, _, _ := pki.Issue(t, "upstream", 2, true)
	_, clientCert, clientKey := pki.Issue(t, "pushguard", 3, false)

	up := newUnstartedFakeUpstream(t)
	up.srv.TLS = pki.ServerTLS(serverCert)
	up.srv.StartTLS()
	series := prompb.TimeSeries{
		Labels:  []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "node"}},
		Samples: []prompb.Sample{{Value: 1, Timestamp: time.Now().UnixMilli()}},
	}

	t.Run("client certificate and CA", func(t *testing.T) {
		inst := startPushguard(t, "-upstream.url="+up.URL(),
			"-upstream.tls-ca-path="+pki.CAPath, "-upstream.tls-cert-path="+clientCert, "-upstream.tls-key-path="+clientKey)
		require.NoError(t, push(t, inst.writeClient(t, "tls"), series))
		got := up.received()
		require.Len(t, got, 1)
		require.Equal(t, series.Labels, got[0].Timeseries[0].Labels)
	})

	req := body(series)
	headers := map[string]string{"X-Scope-OrgID": "tls", "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
	for name, flags := range map[string][]string{
		"no client certificate": {"-upstream.tls-ca-path=" + pki.CAPath},
		"unknown CA":            {"-upstream.tls-cert-path=" + clientCert, "-upstream.tls-key-path=" + clientKey},
	} {
		t.Run(name, func(t *testing.T) {
			before := len(up.received())
			inst := startPushguard(t, append([]string{"-upstream.url=" + up.URL()}, flags...)...)
			status, answer := inst.rawPush(t, req, headers)
			require.Equal(t, http.StatusServiceUnavailable, status, answer)
			require.Contains(t, answer, "(err-pushguard-upstream-unavailable)")
			require.Len(t, up.received(), before, "nothing reached the upstream")
		})
	}
}

// TestUpstreamTLSConfigErrors: TLS settings that cannot work stop
// pushguard at start-up, saying which flag is wrong.
func TestUpstreamTLSConfigErrors(t *testing.T) {
	pki := e2e.NewPKI(t)
	notPEM := filepath.Join(pki.Dir, "not-pem.txt")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600))
	for name, tc := range map[string]struct {
		flags []string
		want  string
	}{
		"plain http upstream":           {[]string{"-upstream.url=http://127.0.0.1:1/api/v1/push", "-upstream.tls-ca-path=" + pki.CAPath}, "-upstream.tls-* flags apply to an https -upstream.url"},
		"unreadable CA":                 {[]string{"-upstream.url=https://127.0.0.1:1/api/v1/push", "-upstream.tls-ca-path=" + filepath.Join(pki.Dir, "missing.pem")}, "error loading ca cert"},
		"CA file without a certificate": {[]string{"-upstream.url=https://127.0.0.1:1/api/v1/push", "-upstream.tls-ca-path=" + notPEM}, "holds no PEM certificate"},
		"certificate, no key":           {[]string{"-upstream.url=https://127.0.0.1:1/api/v1/push", "-upstream.tls-cert-path=" + pki.CAPath}, "-upstream.tls-*"},
	} {
		t.Run(name, func(t *testing.T) {
			require.Contains(t, startFails(t, tc.flags...), tc.want)
		})
	}
}

// TestServingTLS: with dskit's -server.http-tls-* and -server.grpc-tls-*
// flags pushguard takes pushes only over TLS from senders with a client
// certificate of the CA it is given: Prometheus' remote-write client
// configured as in a remote_write section's tls_config gets its samples
// in, without a client certificate it gets nothing in, and gRPC answers
// over TLS.
func TestServingTLS(t *testing.T) {
	pki := e2e.NewPKI(t)
	_, serverCert, serverKey := pki.Issue(t, "pushguard", 2, true)
	clientCert, clientCertPath, clientKeyPath := pki.Issue(t, "prometheus", 3, false)
	inst := startPushguardWith(t, "https", pki.Client(clientCert),
		"-server.http-tls-cert-path="+serverCert, "-server.http-tls-key-path="+serverKey,
		"-server.http-tls-ca-path="+pki.CAPath, "-server.http-tls-client-auth=RequireAndVerifyClientCert",
		"-server.grpc-tls-cert-path="+serverCert, "-server.grpc-tls-key-path="+serverKey,
		"-server.grpc-tls-ca-path="+pki.CAPath, "-server.grpc-tls-client-auth=RequireAndVerifyClientCert",
	)
	u, err := url.Parse(inst.url("/api/v1/push"))
	require.NoError(t, err)
	writer := func(tlsConfig config_util.TLSConfig) remote.WriteClient {
		httpConfig := config_util.DefaultHTTPClientConfig
		httpConfig.TLSConfig = tlsConfig
		c, err := remote.NewWriteClient("tls", &remote.ClientConfig{
			URL:              &config_util.URL{URL: u},
			Timeout:          model.Duration(10 * time.Second),
			HTTPClientConfig: httpConfig,
			Headers:          map[string]string{"X-Scope-OrgID": "tls"},
		})
		require.NoError(t, err)
		return c
	}
	at := time.Now().Truncate(time.Second)
	series := func(instance string) prompb.TimeSeries {
		return prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "instance", Value: instance}, {Name: "job", Value: "node"}},
			Samples: []prompb.Sample{{Value: 1, Timestamp: at.UnixMilli()}},
		}
	}

	require.NoError(t, push(t, writer(config_util.TLSConfig{CAFile: pki.CAPath, CertFile: clientCertPath, KeyFile: clientKeyPath}), series("a:9100")))
	err = push(t, writer(config_util.TLSConfig{CAFile: pki.CAPath}), series("b:9100"))
	require.Error(t, err, "no client certificate")
	t.Logf("without a client certificate: %v", err)
	require.Equal(t, map[string]string{`up{instance="a:9100", job="node"}`: "1"}, inst.query(t, "tls", "up", at))

	conn, err := grpc.NewClient(inst.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(pki.ClientTLS(clientCert))))
	require.NoError(t, err)
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.Status)
}

// TestGRPCUpstreamMutualTLS: the gRPC upstream's TLS is dskit's gRPC
// client configuration, -upstream.grpc-client.tls-*: with the CA and a
// client certificate a distributor requiring one gets the push; without
// the client certificate the sender gets Unavailable and the distributor
// nothing.
func TestGRPCUpstreamMutualTLS(t *testing.T) {
	pki := e2e.NewPKI(t)
	serverCert, _, _ := pki.Issue(t, "distributor", 2, true)
	_, clientCert, clientKey := pki.Issue(t, "pushguard", 3, false)
	fake, addr := startFakeDistributor(t, grpc.Creds(credentials.NewTLS(pki.ServerTLS(serverCert))))
	upstream := []string{"-upstream.grpc-address=" + addr, "-upstream.timeout=5s",
		"-upstream.grpc-client.tls-enabled=true", "-upstream.grpc-client.tls-ca-path=" + pki.CAPath}
	in := &cortexpb.WriteRequest{Timeseries: []*cortexpb.TimeSeries{series(1, time.Now(), "__name__", "up", "job", "node")}}

	inst := startPushguard(t, append(upstream,
		"-upstream.grpc-client.tls-cert-path="+clientCert, "-upstream.grpc-client.tls-key-path="+clientKey)...)
	got := pushFirst(t, distributorClient(t, inst.GRPCAddr), fake, in)
	require.True(t, proto.Equal(in, got), "upstream got %v", got)

	noCert := startPushguard(t, upstream...)
	_, err := distributorClient(t, noCert.GRPCAddr).Push(withTenant("team-a"), in)
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "(err-pushguard-upstream-unavailable)")
	_, reqs := fake.received()
	require.Len(t, reqs, 1, "the push without a client certificate did not reach the distributor")
}
