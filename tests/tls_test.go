package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// testPKI is a certificate authority and the certificates it signed, as
// PEM files in a temporary directory.
type testPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	CAPath string
	pool   *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pushguard test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	p := &testPKI{dir: t.TempDir(), ca: ca, caKey: key, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.CAPath = p.write(t, "ca.pem", "CERTIFICATE", der)
	return p
}

func (p *testPKI) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return path
}

// issue signs a certificate for name (a server's for 127.0.0.1 when
// server is set, a client's otherwise) and returns it, and the paths of
// its certificate and key files.
func (p *testPKI) issue(t *testing.T, name string, serial int64, server bool) (cert tls.Certificate, certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certPath = p.write(t, name+".pem", "CERTIFICATE", der)
	keyPath = p.write(t, name+"-key.pem", "EC PRIVATE KEY", keyDER)
	cert, err = tls.LoadX509KeyPair(certPath, keyPath)
	require.NoError(t, err)
	return cert, certPath, keyPath
}

// TestUpstreamMutualTLS: pushguard forwards to an https upstream that
// requires a client certificate signed by a private CA, given that CA and
// its client certificate with -upstream.tls-*; without them the push is
// answered 503 upstream-unavailable, which the sender retries.
func TestUpstreamMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	serverCert, _, _ := pki.issue(t, "upstream", 2, true)
	_, clientCert, clientKey := pki.issue(t, "pushguard", 3, false)

	up := newUnstartedFakeUpstream(t)
	up.srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pki.pool,
		MinVersion:   tls.VersionTLS12,
	}
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
	pki := newTestPKI(t)
	for name, tc := range map[string]struct {
		flags []string
		want  string
	}{
		"plain http upstream": {[]string{"-upstream.url=http://127.0.0.1:1/api/v1/push", "-upstream.tls-ca-path=" + pki.CAPath}, "-upstream.tls-* flags apply to an https -upstream.url"},
		"unreadable CA":       {[]string{"-upstream.url=https://127.0.0.1:1/api/v1/push", "-upstream.tls-ca-path=" + filepath.Join(pki.dir, "missing.pem")}, "error loading ca cert"},
		"certificate, no key": {[]string{"-upstream.url=https://127.0.0.1:1/api/v1/push", "-upstream.tls-cert-path=" + pki.CAPath}, "-upstream.tls-*"},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(pushguardBinary(t), append([]string{
				"-server.http-listen-address=127.0.0.1", "-server.http-listen-port=0",
				"-server.grpc-listen-address=127.0.0.1", "-server.grpc-listen-port=0",
				"-embedded.dir=" + t.TempDir(),
			}, tc.flags...)...)
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "pushguard must not start: %s", out)
			require.Contains(t, string(out), tc.want)
		})
	}
}
