package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

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
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "../../cmd/pushguard", ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building: %s", out)

	run := exec.Command(filepath.Join(dir, "loadbench"), "-pushguard="+filepath.Join(dir, "pushguard"),
		"-duration=500ms", "-rounds=1", "-rate=20", "-senders=2", "-series=200", "-bodies=4", "-duplicates=0.01")
	out, err = run.CombinedOutput()
	require.NoError(t, err, "loadbench: %s", out)
	t.Logf("%s", out)

	target := regexp.MustCompile(`^(\S.*?, 1\.0% dup)\s+(\d+) samples/s .* errors (\d+)$`)
	steady := regexp.MustCompile(`^\s+(\S.*?, 1\.0% dup)\s+p50 .* p99 added over the bare proxy .* errors (\d+)$`)
	var targets, steadies, budgets []string
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
	}
	perUpstream := []string{
		"direct to upstream, 1.0% dup", "bare reverse proxy, 1.0% dup", "gogo re-encoding proxy, 1.0% dup",
		"pushguard report, 1.0% dup", "pushguard keep-first, 1.0% dup",
	}
	require.Equal(t, append(perUpstream, perUpstream...), targets, "a result line for every target behind each stub")
	steadyPer := []string{"bare reverse proxy, 1.0% dup", "pushguard report, 1.0% dup", "pushguard keep-first, 1.0% dup"}
	require.Equal(t, append(steadyPer, steadyPer...), steadies, "a steady-rate line for every target behind each stub")
	require.Len(t, budgets, len(targets), "a CPU budget for every target")
}
