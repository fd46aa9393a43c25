package upstream_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/upstream"
	"github.com/pushguard/pushguard/validator"
)

// TestHTTPRedirectIsNotFollowed: a redirect goes back to the caller as
// the upstream's answer. Followed, a 301, 302 or 303 would re-send the push
// as a GET without a body, and the target's 200 would read as acceptance.
func TestHTTPRedirectIsNotFollowed(t *testing.T) {
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
	defer target.Close()
	location := target.URL + "/api/v1/push"

	for _, code := range []int{
		http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect,
	} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				http.Redirect(w, r, location, code)
			}))
			defer srv.Close()
			u, err := upstream.NewHTTP(upstream.Config{URL: srv.URL + "/api/v1/push", Timeout: 5 * time.Second, MaxResponseBytes: 1 << 20}, nil)
			require.NoError(t, err)

			resp, err := u.Push(context.Background(), &upstream.Request{Tenant: "t", Header: http.Header{}, Body: []byte("push")})
			require.NoError(t, err)
			require.Equal(t, code, resp.StatusCode)
			require.Zero(t, followed.Load(), "the redirect target gets nothing")

			err = upstream.RedirectError(resp)
			require.Equal(t, validator.ErrIDUpstreamRedirect, validator.IDOf(err))
			require.Equal(t, validator.CauseBadGateway, validator.CauseOf(err))
			require.Equal(t, "upstream answered "+strconv.Itoa(code)+" "+http.StatusText(code)+`, Location "`+location+`": `+
				"-upstream.url must be the final address, since pushguard does not follow redirects (err-pushguard-upstream-redirect)", err.Error())
		})
	}

	for _, code := range []int{http.StatusOK, http.StatusNoContent, http.StatusBadRequest, http.StatusServiceUnavailable} {
		require.NoError(t, upstream.RedirectError(&upstream.Response{StatusCode: code, Header: http.Header{}}), "HTTP %d", code)
	}
}

// TestHTTPBodyIsTheCallersOnceThePushReturns: an upstream that answers
// before it read the whole body leaves net/http writing the rest after the
// push returned, while the caller reuses the buffer (a pooled one for the
// next push). The race detector sees the transport read the buffer after
// the caller's writes unless the push stops those reads before returning.
func TestHTTPBodyIsTheCallersOnceThePushReturns(t *testing.T) {
	if !raceEnabled {
		t.Skip("a race only the race detector sees")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError) // before reading anything
	}))
	defer srv.Close()
	u, err := upstream.NewHTTP(upstream.Config{URL: srv.URL, Timeout: 5 * time.Second, MaxResponseBytes: 1 << 20}, nil)
	require.NoError(t, err)
	for range 3 {
		body := make([]byte, 8<<20)
		resp, err := u.Push(context.Background(), &upstream.Request{Tenant: "t", Header: http.Header{}, Body: body})
		require.NoError(t, err)
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		for i := range body {
			body[i] = 1 // the caller's next push
		}
	}
}
