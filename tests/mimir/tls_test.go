package mimir

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/tests/e2e"
)

// TestThroughPushguardToMimirOverMutualTLS: a Mimir whose HTTP server
// takes only clients with a certificate from a private CA (its
// -server.http-tls-* flags) stores what pushguard forwards with
// -upstream.tls-*, and a pushguard without a client certificate gets
// nothing in.
func TestThroughPushguardToMimirOverMutualTLS(t *testing.T) {
	bin := os.Getenv("MIMIR_BIN")
	if bin == "" {
		t.Skip("MIMIR_BIN is not set: `make test-mimir` builds Mimir and runs these tests")
	}
	pki := e2e.NewPKI(t)
	_, serverCertPath, serverKeyPath := pki.Issue(t, "mimir", 2, true)
	clientCert, clientCertPath, clientKeyPath := pki.Issue(t, "pushguard", 3, false)

	client := pki.Client(clientCert)
	p, addr, _, err := e2e.StartMimir(bin, t.TempDir(), client,
		"-server.http-tls-cert-path="+serverCertPath,
		"-server.http-tls-key-path="+serverKeyPath,
		"-server.http-tls-ca-path="+pki.CAPath,
		"-server.http-tls-client-auth=RequireAndVerifyClientCert",
	)
	require.NoError(t, err)
	stopAtCleanup(t, p)
	upstreamURL := "https://" + addr + "/api/v1/push"

	at := time.Now().Truncate(time.Second)
	const tenant = "pg-tls"
	up := prompb.TimeSeries{
		Labels:  []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "instance", Value: "10.0.0.9:9100"}, {Name: "job", Value: "node"}},
		Samples: []prompb.Sample{{Value: 1, Timestamp: at.UnixMilli()}},
	}

	withCert := startPushguard(t, upstreamURL, "report",
		"-upstream.tls-ca-path="+pki.CAPath, "-upstream.tls-cert-path="+clientCertPath, "-upstream.tls-key-path="+clientKeyPath)
	status, body := push(t, "http://"+withCert.addr+"/api/v1/push", tenant, up)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, map[string]string{`up{instance="10.0.0.9:9100", job="node"}`: "1"},
		e2e.InstantQueryWith(t, client, "https://"+addr+"/prometheus/api/v1/query", tenant, "up", at))

	withoutCert := startPushguard(t, upstreamURL, "report", "-upstream.tls-ca-path="+pki.CAPath)
	up.Labels[1].Value = "10.0.0.10:9100"
	status, body = push(t, "http://"+withoutCert.addr+"/api/v1/push", tenant, up)
	require.Equal(t, http.StatusServiceUnavailable, status, body)
	require.Contains(t, body, "(err-pushguard-upstream-unavailable)")
	require.Len(t, e2e.InstantQueryWith(t, client, "https://"+addr+"/prometheus/api/v1/query", tenant, "up", at), 1,
		"the push without a client certificate stored nothing")
}
