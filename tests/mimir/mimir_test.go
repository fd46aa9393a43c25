package mimir

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/tests/e2e"
)

// mimir is a running single-process Mimir.
type mimir struct {
	*e2e.Process
	addr, grpcAddr string
}

var (
	mimirOnce sync.Once
	shared    *mimir
	mimirErr  error
)

// startMimir starts one Mimir for the whole test run (it takes several
// seconds to become ready); each test writes to its own tenant. Every
// listening and advertised address is pinned to loopback: left alone, Mimir
// advertises the machine's interface address to its own components.
func startMimir(t *testing.T) *mimir {
	t.Helper()
	bin := os.Getenv("MIMIR_BIN")
	if bin == "" {
		t.Skip("MIMIR_BIN is not set: `make test-mimir` builds Mimir and runs these tests")
	}
	mimirOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pushguard-mimir")
		if err != nil {
			mimirErr = err
			return
		}
		// Started with the first test's cleanup would stop it after that
		// test; the process lives for the whole run and TestMain stops it.
		// The HA tracker acts on pushes whose series carry both cluster
		// and __replica__, which only TestHAPairThroughPushguard sends.
		// Exemplars are stored only with a per-tenant allowance.
		p, addr, grpcAddr, err := e2e.StartMimir(bin, dir, nil,
			"-distributor.ha-tracker.enable=true", "-distributor.ha-tracker.enable-for-all-users=true", "-distributor.ha-tracker.store=inmemory",
			"-ingester.max-global-exemplars-per-user=10000")
		if err != nil {
			mimirErr = err
			return
		}
		shared = &mimir{Process: p, addr: addr, grpcAddr: grpcAddr}
		cleanups = append(cleanups, func() { p.Stop(); os.RemoveAll(dir) })
	})
	require.NoError(t, mimirErr, "starting Mimir")
	return shared
}

// cleanups run after every test, from TestMain.
var cleanups []func()

func TestMain(m *testing.M) {
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func (m *mimir) pushURL() string { return "http://" + m.addr + "/api/v1/push" }

// push sends series as a remote-write 1.0 request, with the headers
// Prometheus sends, and returns the status code and body of the answer.
func push(t testing.TB, pushURL, tenant string, series ...prompb.TimeSeries) (int, string) {
	t.Helper()
	wr := prompb.WriteRequest{Timeseries: series}
	raw, err := wr.Marshal()
	require.NoError(t, err)
	return postBody(t, pushURL, tenant, http.Header{
		"Content-Type":                      {"application/x-protobuf"},
		"X-Prometheus-Remote-Write-Version": {"0.1.0"},
		"User-Agent":                        {"Prometheus/3.5.0"},
	}, snappy.Encode(nil, raw))
}

// postBody posts a snappy-compressed body as it is, with header, and
// returns the status code and body of the answer.
func postBody(t testing.TB, pushURL, tenant string, header http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, pushURL, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = header.Clone()
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Scope-OrgID", tenant)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// query runs an instant PromQL query on Mimir's Prometheus API and returns
// series -> value.
func (m *mimir) query(t testing.TB, tenant, expr string, at time.Time) map[string]string {
	t.Helper()
	return e2e.InstantQuery(t, "http://"+m.addr+"/prometheus/api/v1/query", tenant, expr, at)
}
