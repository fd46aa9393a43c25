package upstream_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/upstream"
)

// TestHTTPPushAllocation checks what forwarding a 200 KB push allocates, in
// both the upstream client and the receiving test server: a new 32 KiB copy
// buffer per push would show.
func TestHTTPPushAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers at random")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	u, err := upstream.NewHTTP(upstream.Config{URL: srv.URL, Timeout: 5 * time.Second, MaxResponseBytes: 1 << 20}, nil)
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
}

// BenchmarkHTTPPush forwards a 200 KB push to a loopback receiver: pushguard's
// upstream client, and as the baseline a default net/http client posting
// the same bytes.
func BenchmarkHTTPPush(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	body := make([]byte, 200<<10)
	_, _ = rand.Read(body)
	b.Run("pushguard", func(b *testing.B) {
		u, err := upstream.NewHTTP(upstream.Config{URL: srv.URL, Timeout: 5 * time.Second, MaxResponseBytes: 1 << 20}, nil)
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
	b.Run("net-http-default", func(b *testing.B) {
		client := &http.Client{}
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
}
