package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLoadBenchRuns drives a short load through the real pushguard binary
// behind both stubs, as make bench-e2e does at full length, so that the
// benchmark keeps working: every target answers every push with a 2xx
// (keep-first's patched pushes included), moves samples, and has its CPU
// budget printed. It asserts no speed.
func TestLoadBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts pushguard, the stubs and the proxies")
	}
	targets, steadies := runLoadBench(t, "-upstreams=discard,decode")
	require.Equal(t, append(perUpstream, perUpstream...), targets, "a result line for every target behind each stub")
	require.Equal(t, append(steadyPer, steadyPer...), steadies, "a steady-rate line for every target behind each stub")
}

// TestLoadBenchBehindMimir is TestLoadBenchRuns behind a real Mimir (make
// test-mimir sets MIMIR_BIN): Mimir takes every push of every target,
// keep-first's patched ones, and report's, whose duplicates within a push
// Mimir drops without an error.
func TestLoadBenchBehindMimir(t *testing.T) {
	bin := os.Getenv("MIMIR_BIN")
	if bin == "" {
		t.Skip("MIMIR_BIN is not set: `make test-mimir` builds Mimir and runs this test")
	}
	targets, steadies := runLoadBench(t, "-upstreams=mimir", "-mimir="+bin)
	require.Equal(t, perUpstream, targets, "a result line for every target")
	require.Equal(t, steadyPer, steadies, "a steady-rate line for every target")
}

// TestTurnRatios: the spread is taken turn by turn, each turn against the
// bare proxy's of the same round, not against the whole run's mean.
func TestTurnRatios(t *testing.T) {
	bare := result{turns: []float64{100, 200, 50}}
	lo, hi, ok := turnRatios(result{turns: []float64{90, 150, 50}}, bare)
	require.True(t, ok)
	require.InDelta(t, 0.75, lo, 1e-9)
	require.InDelta(t, 1.0, hi, 1e-9)

	_, _, ok = turnRatios(result{turns: []float64{90}}, result{turns: []float64{100}})
	require.False(t, ok, "one turn has no spread")
	_, _, ok = turnRatios(result{turns: []float64{90, 80}}, result{turns: []float64{100}})
	require.False(t, ok, "turns not taken side by side")
	_, _, ok = turnRatios(result{turns: []float64{90, 80}}, result{turns: []float64{100, 0}})
	require.False(t, ok, "a bare proxy turn that moved nothing")
}

var (
	perUpstream = []string{
		"direct to upstream, 1.0% dup", "bare reverse proxy, 1.0% dup", "gogo re-encoding proxy, 1.0% dup",
		"pushguard report, 1.0% dup", "pushguard keep-first, 1.0% dup",
	}
	steadyPer = []string{"bare reverse proxy, 1.0% dup", "pushguard report, 1.0% dup", "pushguard keep-first, 1.0% dup"}
)

// runLoadBench builds pushguard and the benchmark, runs a short, light load
// with 1% duplicates and returns the targets of its result lines and of
// its steady-rate lines, in order, having checked that every line counts
// no error, every target moved samples and has its CPU budget printed.
func runLoadBench(t *testing.T, args ...string) (targets, steadies []string) {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "../../cmd/pushguard", ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building: %s", out)

	run := exec.Command(filepath.Join(dir, "loadbench"), append([]string{"-pushguard=" + filepath.Join(dir, "pushguard"),
		"-duration=500ms", "-rounds=2", "-rate=20", "-senders=2", "-series=200", "-bodies=4", "-duplicates=0.01"}, args...)...)
	out, err = run.CombinedOutput()
	require.NoError(t, err, "loadbench: %s", out)
	t.Logf("%s", out)

	target := regexp.MustCompile(`^(\S.*?, 1\.0% dup)\s+(\d+) samples/s .* errors (\d+)$`)
	steady := regexp.MustCompile(`^\s+(\S.*?, 1\.0% dup)\s+p50 .* p99 added over the bare proxy .* errors (\d+)$`)
	var budgets, turns []string
	for _, line := range strings.Split(string(out), "\n") {
		if m := target.FindStringSubmatch(line); m != nil {
			targets = append(targets, m[1])
			perSec, _ := strconv.Atoi(m[2])
			require.Positive(t, perSec, line)
			require.Equal(t, "0", m[3], line)
		}
		if m := steady.FindStringSubmatch(line); m != nil {
			steadies = append(steadies, m[1])
			require.Equal(t, "0", m[2], line)
		}
		if strings.Contains(line, "CPU/1k samples of the upstream") && strings.Contains(line, "machine idle") {
			budgets = append(budgets, line)
		}
		if strings.Contains(line, "ratio to the bare proxy turn by turn:") && strings.HasSuffix(line, "(2 turns)") {
			turns = append(turns, line)
		}
	}
	require.Len(t, budgets, len(targets), "a CPU budget for every target")
	bare := 0
	for _, name := range targets {
		if strings.HasPrefix(name, "bare reverse proxy") {
			bare++
		}
	}
	require.Len(t, turns, len(targets)-bare, "the spread of its turns' ratios for every target but the bare proxy")
	return targets, steadies
}

// TestPassGate: behind Mimir, the pushes of a pass begun in this run wait
// for its first push; a pass begun in an earlier run has its tenant.
func TestPassGate(t *testing.T) {
	ep := &endpoint{firstPushAlone: true}
	gate, first := ep.passGate(2, 4, 4)
	require.Nil(t, gate, "pass 0 began before the run")
	require.False(t, first)
	g4, first := ep.passGate(4, 4, 4)
	require.NotNil(t, g4)
	require.True(t, first, "request 4 is pass 1's first push")
	g5, first := ep.passGate(5, 4, 4)
	require.Equal(t, g4, g5, "the pushes of pass 1 wait on its first")
	require.False(t, first)
	g8, _ := ep.passGate(8, 4, 4)
	require.NotEqual(t, g4, g8, "each pass has its own")

	gate, first = (&endpoint{}).passGate(4, 4, 4)
	require.Nil(t, gate, "only behind Mimir")
	require.False(t, first)
}

// TestFirstPushOfAPassGoesAlone drives a run at an upstream that holds
// each tenant's first push a while: behind Mimir no other push of the
// tenant arrives before that one is answered; otherwise they do.
func TestFirstPushOfAPassGoesAlone(t *testing.T) {
	load := newLoad(10, 4, 0, false, time.Now())
	for _, alone := range []bool{true, false} {
		var (
			mu               sync.Mutex
			answered         = map[string]bool{} // tenant → its first push was answered
			firsts, overtook int
		)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tenant := r.Header.Get("X-Scope-OrgID")
			body, _ := io.ReadAll(r.Body)
			if bytes.Equal(body, load.bodies[0]) {
				time.Sleep(20 * time.Millisecond)
				mu.Lock()
				firsts++
				answered[tenant] = true
				mu.Unlock()
				return
			}
			mu.Lock()
			if !answered[tenant] {
				overtook++
			}
			mu.Unlock()
		}))
		ep := newEndpoint(srv.URL, os.Getpid(), os.Getpid(), driveConfig{senders: 4, firstPushAlone: alone})
		newTarget("t", ep).run(load, 4, 300*time.Millisecond, 0)
		srv.Close()
		require.Greater(t, firsts, 2, "several passes")
		if alone {
			require.Zero(t, overtook, "no push of a pass before its first is answered")
		} else {
			require.Positive(t, overtook, "without it, pushes of a new tenant overtake its first")
		}
	}
}
