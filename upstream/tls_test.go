package upstream_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/upstream"
)

// TestHTTPTLSServerName: the name checked against the upstream's
// certificate is the URL's host, or -upstream.tls-server-name when set.
// httptest's certificate names example.com and 127.0.0.1.
func TestHTTPTLSServerName(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		serverName string
		ok         bool
	}{
		{"", true}, // 127.0.0.1, from the URL
		{"example.com", true},
		{"mimir.example.org", false},
	} {
		t.Run("server name "+tc.serverName, func(t *testing.T) {
			cfg := testServerConfig(t, srv)
			cfg.TLS.ServerName = tc.serverName
			u, err := upstream.NewHTTP(cfg, nil)
			require.NoError(t, err)
			resp, err := u.Push(context.Background(), &upstream.Request{Tenant: "t", Header: http.Header{}, Body: []byte("x")})
			if !tc.ok {
				require.ErrorContains(t, err, "mimir.example.org")
				return
			}
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
}
