package tests

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// slowUpstream answers every push after release is closed, telling arrived
// when a push came in.
func slowUpstream(t *testing.T) (url string, arrived chan struct{}, release chan struct{}, got chan []byte) {
	t.Helper()
	arrived, release, got = make(chan struct{}, 16), make(chan struct{}), make(chan []byte, 16)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		arrived <- struct{}{}
		<-release
		got <- body
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String() + "/api/v1/push", arrived, release, got
}

// pushUntilUpstream pushes to inst and returns once the push arrived
// upstream, with where its result will come.
func pushUntilUpstream(t *testing.T, inst *instance, arrived chan struct{}) chan error {
	t.Helper()
	c := inst.writeClient(t, "t")
	errc := make(chan error, 1)
	go func() {
		errc <- push(t, c, ts(1, time.Now(), "__name__", "up", "job", "j"))
	}()
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("push never reached the upstream")
	}
	return errc
}

// TestGracefulShutdownFinishesInFlightPushes sends SIGTERM while a push
// waits on the upstream: the push still completes with the upstream's 2xx
// and the process exits cleanly.
func TestGracefulShutdownFinishesInFlightPushes(t *testing.T) {
	url, arrived, release, got := slowUpstream(t)
	inst := startPushguard(t, "-upstream.url="+url, "-server.graceful-shutdown-timeout=20s")
	errc := pushUntilUpstream(t, inst, arrived)
	require.NoError(t, inst.cmd.Process.Signal(os.Interrupt))
	// Give the signal time to land before the upstream answers.
	time.Sleep(300 * time.Millisecond)
	close(release)

	require.NoError(t, <-errc, "the in-flight push must complete")
	require.NotEmpty(t, <-got)
	exited, err := inst.Wait(30 * time.Second)
	require.True(t, exited, "pushguard did not exit after SIGTERM")
	require.NoError(t, err, "pushguard must exit cleanly")
}

// TestGracefulShutdownTimeoutIsLogged sends SIGTERM while a push waits on
// an upstream that does not answer within -server.graceful-shutdown-timeout:
// the push is cut, its sender gets an error to retry (never a 2xx), and
// the log says how many pushes were cut.
func TestGracefulShutdownTimeoutIsLogged(t *testing.T) {
	url, arrived, release, _ := slowUpstream(t)
	defer close(release)
	inst := startPushguard(t, "-upstream.url="+url, "-server.graceful-shutdown-timeout=1s")
	errc := pushUntilUpstream(t, inst, arrived)
	require.NoError(t, inst.cmd.Process.Signal(os.Interrupt))
	exited, err := inst.Wait(30 * time.Second)
	require.True(t, exited, "pushguard did not exit after SIGTERM")
	require.NoError(t, err, "pushguard must exit cleanly")
	require.Error(t, <-errc, "the cut push must not look accepted")
	require.Regexp(t, `level=warn .*msg="graceful shutdown timed out, cutting the pushes still in flight" timeout=1s pushes_in_flight=1`, inst.logs.String())
}

// TestFailedStartUpNeverListens: a component that cannot start (here an
// unreadable runtime file) stops pushguard before its server listens, so
// that its log never says it listened.
func TestFailedStartUpNeverListens(t *testing.T) {
	runtimeFile := filepath.Join(t.TempDir(), "runtime.yaml")
	require.NoError(t, os.WriteFile(runtimeFile, []byte("overrides: {bad\n"), 0o600))
	out := startFails(t, "-runtime-config.file="+runtimeFile)
	require.Contains(t, out, "failed to load runtime config")
	require.NotRegexp(t, listeningRE, out)
}

// TestShutdownWarnsOnlyOfCutPushes: a shutdown that cuts no push logs no
// warning, whether the timeout is 0 or a gRPC health Watch stream (which
// only ends when its client goes) holds the server until the timeout.
func TestShutdownWarnsOnlyOfCutPushes(t *testing.T) {
	t.Run("timeout 0, nothing in flight", func(t *testing.T) {
		inst := startPushguard(t, "-server.graceful-shutdown-timeout=0s")
		require.NoError(t, inst.cmd.Process.Signal(os.Interrupt))
		exited, err := inst.Wait(30 * time.Second)
		require.True(t, exited)
		require.NoError(t, err)
		require.Contains(t, inst.logs.String(), `msg="pushguard stopped"`)
		require.NotContains(t, inst.logs.String(), "graceful shutdown timed out")
	})
	t.Run("a health Watch open", func(t *testing.T) {
		inst := startPushguard(t, "-server.graceful-shutdown-timeout=1s")
		conn, err := grpc.NewClient(inst.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		stream, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		_, err = stream.Recv()
		require.NoError(t, err)
		require.NoError(t, inst.cmd.Process.Signal(os.Interrupt))
		exited, err := inst.Wait(30 * time.Second)
		require.True(t, exited, "the Watch is cut at the timeout")
		require.NoError(t, err)
		require.NotContains(t, inst.logs.String(), "graceful shutdown timed out")
	})
}

// TestBusyPortStopsStartUp: a port in use stops pushguard before it says
// it started, or stopped.
func TestBusyPortStopsStartUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	out := startFails(t, "-server.http-listen-port="+port)
	require.Contains(t, out, "address already in use")
	require.NotContains(t, out, "pushguard started")
	require.NotContains(t, out, "pushguard stopped")
}
