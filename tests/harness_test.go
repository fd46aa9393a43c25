// Package tests holds end-to-end tests: they build the real pushguard binary,
// start it on loopback ports and talk to it with real clients.
package tests

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/tests/e2e"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// pushguardBinary builds cmd/pushguard once per test run.
func pushguardBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pushguard-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "pushguard")
		cmd := exec.Command("go", "build", "-race", "-o", binPath, "../cmd/pushguard")
		cmd.Stderr = os.Stderr
		buildErr = cmd.Run()
	})
	require.NoError(t, buildErr, "building pushguard")
	return binPath
}

// instance is a running pushguard process.
type instance struct {
	t        testing.TB
	cmd      *exec.Cmd
	HTTPAddr string
	GRPCAddr string
	DataDir  string
	logs     *e2e.SyncBuffer
	exited   chan struct{}
	exitErr  error
	// scheme and client are how the tests reach the HTTP server: http and
	// the default client, unless it serves TLS.
	scheme string
	client *http.Client
}

// startPushguard starts the binary on loopback with the given extra flags
// and waits until /ready answers 200.
func startPushguard(t testing.TB, flags ...string) *instance {
	t.Helper()
	return startPushguardWith(t, "http", http.DefaultClient, flags...)
}

// startPushguardWith is startPushguard for an HTTP server reached with
// scheme and client, such as https and a client trusting its certificate.
func startPushguardWith(t testing.TB, scheme string, client *http.Client, flags ...string) *instance {
	t.Helper()
	bin := pushguardBinary(t)
	inst := &instance{
		t:       t,
		DataDir: t.TempDir(),
		logs:    &e2e.SyncBuffer{},
		exited:  make(chan struct{}),
		scheme:  scheme,
		client:  client,
	}
	inst.cmd = exec.Command(bin, append(loopbackArgs(inst.DataDir), flags...)...)
	inst.cmd.Stdout = inst.logs
	inst.cmd.Stderr = inst.logs
	require.NoError(t, inst.cmd.Start())
	go func() {
		inst.exitErr = inst.cmd.Wait()
		close(inst.exited)
	}()
	t.Cleanup(func() {
		inst.Stop()
		if t.Failed() {
			t.Logf("pushguard logs:\n%s", inst.logs.String())
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		if inst.HTTPAddr == "" {
			if m := listeningRE.FindStringSubmatch(inst.logs.String()); m != nil {
				inst.HTTPAddr, inst.GRPCAddr = m[1], m[2]
			}
		}
		if inst.HTTPAddr != "" {
			resp, err := inst.client.Get(inst.url("/ready"))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return inst
				}
			}
		}
		select {
		case <-inst.exited:
			t.Fatalf("pushguard exited early: %v\n%s", inst.exitErr, inst.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pushguard not ready in time:\n%s", inst.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// loopbackArgs are the flags every test's pushguard runs with: its
// servers on loopback, on port 0 (the kernel picks free ports as the server
// binds them, so concurrently running test packages never race for one;
// the addresses are read back from the server's log line), and the
// embedded TSDB in dataDir.
func loopbackArgs(dataDir string) []string {
	return []string{
		"-server.http-listen-address=127.0.0.1",
		"-server.http-listen-port=0",
		"-server.grpc-listen-address=127.0.0.1",
		"-server.grpc-listen-port=0",
		"-embedded.dir=" + dataDir,
	}
}

// startFails runs the binary on loopback with flags, which must stop it at
// start-up, and returns its output. A pushguard that wrongly starts is
// killed after 30 s and fails the test.
func startFails(t *testing.T, flags ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pushguardBinary(t), append(loopbackArgs(t.TempDir()), flags...)...)
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "pushguard must not start: %s", out)
	return string(out)
}

// listeningRE matches dskit's log line naming the addresses it listens on.
var listeningRE = regexp.MustCompile(`msg="server listening on addresses" http=(\S+) grpc=(\S+)`)

// Stop sends SIGTERM and waits for the process to exit.
func (inst *instance) Stop() {
	select {
	case <-inst.exited:
		return
	default:
	}
	_ = inst.cmd.Process.Signal(os.Interrupt)
	if exited, _ := inst.Wait(30 * time.Second); !exited {
		_ = inst.cmd.Process.Kill()
		<-inst.exited
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// error; exited is false when it is still running.
func (inst *instance) Wait(timeout time.Duration) (exited bool, err error) {
	select {
	case <-inst.exited:
		return true, inst.exitErr
	case <-time.After(timeout):
		return false, nil
	}
}

func (inst *instance) url(path string) string { return inst.scheme + "://" + inst.HTTPAddr + path }

// writeClient returns Prometheus' own remote-write client pointed at inst.
func (inst *instance) writeClient(t testing.TB, tenant string) remote.WriteClient {
	t.Helper()
	return e2e.WriteClient(t, inst.url("/api/v1/push"), tenant, remoteapi.WriteV1MessageType)
}

// push sends series with Prometheus' remote-write client.
func push(t testing.TB, c remote.WriteClient, series ...prompb.TimeSeries) error {
	t.Helper()
	wr := prompb.WriteRequest{Timeseries: series}
	raw, err := wr.Marshal()
	require.NoError(t, err)
	_, err = c.Store(context.Background(), snappyEncode(raw), 0)
	return err
}

// offenders fetches GET /api/v1/offenders for tenant.
func (inst *instance) offenders(t testing.TB, tenant, query string) offendersBody {
	t.Helper()
	var out offendersBody
	e2e.GetJSON(t, inst.url("/api/v1/offenders?"+query), tenant, &out)
	return out
}

type offendersBody struct {
	Offenders []struct {
		Tenant             string            `json:"tenant"`
		Metric             string            `json:"metric"`
		Kind               string            `json:"kind"`
		Origin             map[string]string `json:"origin"`
		ConflictingSamples int64             `json:"conflicting_samples"`
		IdenticalSamples   int64             `json:"identical_samples"`
		FirstSeen          time.Time         `json:"first_seen"`
		LastSeen           time.Time         `json:"last_seen"`
		Action             string            `json:"action"`
		DroppedSamples     int64             `json:"dropped_samples"`
		ChangedSamples     int64             `json:"changed_samples"`
		RelabelledSamples  int64             `json:"relabelled_samples"`
		RequestedAction    string            `json:"requested_action"`
		UserAgent          string            `json:"user_agent"`
		ID                 string            `json:"id"`
		SenderAddress      string            `json:"sender_address"`
		Source             string            `json:"source"`
		PerMinute          []uint32          `json:"per_minute"`
		Example            struct {
			Labels      map[string]string `json:"labels"`
			FirstLabels map[string]string `json:"first_labels"`
			TimestampMs int64             `json:"timestamp_ms"`
			Values      []any             `json:"values"`
			Histograms  []string          `json:"histograms"`
		} `json:"example"`
	} `json:"offenders"`
	EvictedOffenders int64  `json:"evicted_offenders"`
	Instance         string `json:"instance"`
}

// query runs an instant PromQL query against the embedded upstream and
// returns metric-string -> value.
func (inst *instance) query(t testing.TB, tenant, expr string, ts time.Time) map[string]string {
	t.Helper()
	return e2e.InstantQueryWith(t, inst.client, inst.url("/embedded/api/v1/query"), tenant, expr, ts)
}

// rawPush posts body to /api/v1/push with the given headers.
func (inst *instance) rawPush(t testing.TB, body []byte, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, inst.url("/api/v1/push"), bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := inst.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// decodeWriteRequest decodes a snappy-compressed remote write 1.0 body, as
// the test upstreams receive pushguard's forwards.
func decodeWriteRequest(body []byte) (prompb.WriteRequest, error) {
	var wr prompb.WriteRequest
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return wr, err
	}
	return wr, wr.Unmarshal(raw)
}
