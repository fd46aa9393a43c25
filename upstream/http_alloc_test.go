package upstream_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/upstream"
)

// TestHTTPPushAllocation checks what forwarding a 200 KB push allocates, in
// both the upstream client and the receiving test server, over plain HTTP
// and over TLS: a new 32 KiB copy buffer per push would show.
func TestHTTPPushAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers at random")
	}
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			srv := startDiscardServer(scheme)
			defer srv.Close()
			u, err := upstream.NewHTTP(testServerConfig(t, srv), nil)
			require.NoError(t, err)
			body := make([]byte, 200<<10)
			_, _ = rand.Read(body)
			req := &upstream.Request{Tenant: "t", Header: http.Header{"Content-Encoding": {"snappy"}}, Body: body}
			push := func() {
				resp, err := u.Push(context.Background(), req)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, resp.StatusCode)
			}
			for range 20 {
				push()
			}
			const n = 200
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range n {
				push()
			}
			runtime.ReadMemStats(&after)
			perPush := (after.TotalAlloc - before.TotalAlloc) / n
			t.Logf("%d bytes allocated a push", perPush)
			require.Less(t, perPush, uint64(24<<10))
		})
	}
}

// startDiscardServer starts a loopback receiver serving scheme (http or
// https) that reads every request's body and answers 200.
func startDiscardServer(scheme string) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	if scheme == "https" {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	return srv
}

// testServerConfig is the upstream configuration for srv, trusting its
// certificate when it serves TLS.
func testServerConfig(t testing.TB, srv *httptest.Server) upstream.Config {
	cfg := upstream.Config{URL: srv.URL, Timeout: 5 * time.Second, MaxResponseBytes: 1 << 20}
	if srv.TLS != nil {
		ca := filepath.Join(t.TempDir(), "ca.pem")
		require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
		cfg.TLS.CAPath = ca
	}
	return cfg
}

// BenchmarkHTTPPush forwards a 200 KB push to a loopback receiver, over
// plain HTTP and over TLS: pushguard's upstream client, and as the baseline
// a net/http client with default settings (trusting the test server's
// certificate over TLS) posting the same bytes.
func BenchmarkHTTPPush(b *testing.B) {
	body := make([]byte, 200<<10)
	_, _ = rand.Read(body)
	for _, scheme := range []string{"http", "https"} {
		srv := startDiscardServer(scheme)
		b.Run(scheme+"/pushguard", func(b *testing.B) {
			u, err := upstream.NewHTTP(testServerConfig(b, srv), nil)
			require.NoError(b, err)
			req := &upstream.Request{Tenant: "t", Header: http.Header{"Content-Encoding": {"snappy"}}, Body: body}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := u.Push(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(scheme+"/net-http-default", func(b *testing.B) {
			// srv.Client trusts the server's certificate and is otherwise
			// a default client.
			client := srv.Client()
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				resp, err := client.Post(srv.URL, "application/x-protobuf", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
		srv.Close()
	}
}
