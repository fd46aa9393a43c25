// Package e2e holds what the end-to-end test packages share: loopback
// ports and a log buffer for the processes they start.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/stretchr/testify/require"
)

// FreePort returns a loopback TCP port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := ListenablePort()
	require.NoError(t, err)
	return port
}

// ListenablePort is FreePort for a caller outside a test.
func ListenablePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// SyncBuffer collects a process' output; it is safe for concurrent use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// GetJSON GETs url as tenant, requires a 200 and decodes the JSON body
// into out.
func GetJSON(t testing.TB, url, tenant string, out any) {
	t.Helper()
	GetJSONWith(t, http.DefaultClient, url, tenant, out)
}

// GetJSONWith is GetJSON through client.
func GetJSONWith(t testing.TB, client *http.Client, url, tenant string, out any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("X-Scope-OrgID", tenant)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.NoError(t, json.Unmarshal(body, out), string(body))
}

// InstantQuery runs PromQL expr at time at on the Prometheus query API at
// queryURL (…/api/v1/query) as tenant and returns each series, written as
// {a="b", ...}, with its value.
func InstantQuery(t testing.TB, queryURL, tenant, expr string, at time.Time) map[string]string {
	t.Helper()
	return InstantQueryWith(t, http.DefaultClient, queryURL, tenant, expr, at)
}

// InstantQueryWith is InstantQuery through client. A native histogram's
// value is written "count=<count> sum=<sum>".
func InstantQueryWith(t testing.TB, client *http.Client, queryURL, tenant, expr string, at time.Time) map[string]string {
	t.Helper()
	q := url.Values{"query": {expr}, "time": {fmt.Sprintf("%.3f", float64(at.UnixMilli())/1000)}}
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric    map[string]string `json:"metric"`
				Value     []any             `json:"value"`
				Histogram []json.RawMessage `json:"histogram"`
			} `json:"result"`
		} `json:"data"`
	}
	GetJSONWith(t, client, queryURL+"?"+q.Encode(), tenant, &out)
	require.Equal(t, "success", out.Status)
	res := map[string]string{}
	for _, r := range out.Data.Result {
		lm := model.Metric{}
		for k, v := range r.Metric {
			lm[model.LabelName(k)] = model.LabelValue(v)
		}
		switch {
		case len(r.Value) == 2:
			res[lm.String()] = r.Value[1].(string)
		case len(r.Histogram) == 2:
			var h struct{ Count, Sum string }
			require.NoError(t, json.Unmarshal(r.Histogram[1], &h))
			res[lm.String()] = "count=" + h.Count + " sum=" + h.Sum
		default:
			require.Failf(t, "unexpected query result", "%s: %+v", lm, r)
		}
	}
	return res
}

// WriteClient returns Prometheus' own remote-write client for pushURL, as
// tenant (no X-Scope-OrgID when empty), sending msg (remote write 1.0 or
// 2.0).
func WriteClient(t testing.TB, pushURL, tenant string, msg remoteapi.WriteMessageType) remote.WriteClient {
	t.Helper()
	u, err := url.Parse(pushURL)
	require.NoError(t, err)
	headers := map[string]string{}
	if tenant != "" {
		headers["X-Scope-OrgID"] = tenant
	}
	c, err := remote.NewWriteClient("e2e-"+string(msg), &remote.ClientConfig{
		URL:              &config_util.URL{URL: u},
		Timeout:          model.Duration(30 * time.Second),
		HTTPClientConfig: config_util.DefaultHTTPClientConfig,
		Headers:          headers,
		WriteProtoMsg:    msg,
	})
	require.NoError(t, err)
	return c
}
