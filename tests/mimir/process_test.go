// Package mimir holds the end-to-end tests against a real Grafana Mimir:
// Mimir built from its Go module (scripts/build-mimir.sh), started as one
// process on loopback, with the real pushguard binary in front of it.
// `make test-mimir` builds Mimir and runs them; without MIMIR_BIN they skip.
package mimir

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/tests/e2e"
)

// startProcess starts bin with args and waits until readyURL answers 200.
// It returns an error, with the process' output, when the process exits
// before it is ready.
func startProcess(t testing.TB, name, bin, readyURL string, timeout time.Duration, args ...string) (*e2e.Process, error) {
	t.Helper()
	p, err := e2e.StartProcess(name, bin, readyURL, timeout, args...)
	if err != nil {
		return nil, err
	}
	stopAtCleanup(t, p)
	return p, nil
}

// stopAtCleanup stops p when the test ends, showing its logs if the test
// failed.
func stopAtCleanup(t testing.TB, p *e2e.Process) {
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s logs:\n%s", p.Name, p.Logs.String())
		}
	})
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	helpText  string
)

// pushguardBinary builds cmd/pushguard once per test run and reads its
// -help, from which the tests learn what this version supports.
func pushguardBinary(t testing.TB) (string, string) {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pushguard-mimir-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "pushguard")
		cmd := exec.Command("go", "build", "-race", "-o", binPath, "../../cmd/pushguard")
		cmd.Stderr = os.Stderr
		if buildErr = cmd.Run(); buildErr != nil {
			return
		}
		// -help exits non-zero after printing the flags.
		out, _ := exec.Command(binPath, "-help").CombinedOutput()
		helpText = string(out)
	})
	require.NoError(t, buildErr, "building pushguard")
	return binPath, helpText
}

// hasFlag reports whether this pushguard takes the flag.
func hasFlag(t testing.TB, name string) bool {
	_, help := pushguardBinary(t)
	return strings.Contains(help, "-"+name+" ")
}

// pushguard is a running pushguard.
type pushguard struct {
	*e2e.Process
	addr, grpcAddr string
}

// startPushguard starts pushguard on loopback in front of upstreamURL. It
// skips the test when this pushguard refuses the action: the actions are
// built one at a time, and their cases turn on when they land.
func startPushguard(t testing.TB, upstreamURL, action string, extra ...string) *pushguard {
	t.Helper()
	bin, _ := pushguardBinary(t)
	httpPort, grpcPort := e2e.FreePort(t), e2e.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", httpPort)
	args := append([]string{
		"-server.http-listen-address=127.0.0.1",
		fmt.Sprintf("-server.http-listen-port=%d", httpPort),
		"-server.grpc-listen-address=127.0.0.1",
		fmt.Sprintf("-server.grpc-listen-port=%d", grpcPort),
		"-upstream.url=" + upstreamURL,
		"-validator.action=" + action,
		"-embedded.dir=" + t.TempDir(),
	}, extra...)
	p, err := startProcess(t, "pushguard", bin, "http://"+addr+"/ready", 30*time.Second, args...)
	if err != nil {
		if strings.Contains(err.Error(), "invalid -validator.action") {
			t.Skipf("this pushguard does not implement -validator.action=%s yet: %v", action, err)
		}
		t.Fatal(err)
	}
	return &pushguard{Process: p, addr: addr, grpcAddr: fmt.Sprintf("127.0.0.1:%d", grpcPort)}
}
