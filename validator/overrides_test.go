package validator

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func defaultsConfig() Config {
	return Config{Action: "keep-first", OriginLabels: []string{"job", "namespace"}, DisambiguationLabel: DefaultDisambiguationLabel, MaxRequestBytes: 1}
}

func writeRuntimeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func TestOverrides(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtime.yaml")
	writeRuntimeFile(t, path, `
overrides:
  strict:
    action: reject
  ksm:
    rules:
      - match: '{job="kube-state-metrics"}'
        kinds: [across_series]
        action: label
    origin_labels: "job, pod,"
`)
	reg := prometheus.NewRegistry()
	o, err := NewOverrides(defaultsConfig(), RuntimeConfig{File: []string{path}, ReloadPeriod: 20 * time.Millisecond}, log.NewNopLogger(), reg)
	require.NoError(t, err)
	require.NoError(t, services.StartAndAwaitRunning(context.Background(), o.Service()))
	t.Cleanup(func() { require.NoError(t, services.StopAndAwaitTerminated(context.Background(), o.Service())) })

	ksmDup := func(kind Kind) (*Request, *Duplicate) {
		r := decodeBody(t, marshal(t, series("__name__", "kube_pod_info", "job", "kube-state-metrics")))
		return r, &Duplicate{Kind: kind}
	}
	// Defaults for tenants the file does not name.
	require.Equal(t, ActionKeepFirst, o.For("other").Rules.Default())
	require.Equal(t, []string{"job", "namespace"}, o.For("other").OriginLabels)
	// A tenant's own default action; the rest inherited.
	require.Equal(t, ActionReject, o.For("strict").Rules.Default())
	require.Equal(t, []string{"job", "namespace"}, o.For("strict").OriginLabels)
	// A tenant's own rules and origin labels, the default action inherited.
	require.Equal(t, ActionLabel, o.For("ksm").Rules.ActionFor(ksmDup(AcrossSeries)))
	require.Equal(t, ActionKeepFirst, o.For("ksm").Rules.ActionFor(ksmDup(WithinSeries)))
	require.Equal(t, []string{"job", "pod"}, o.For("ksm").OriginLabels)

	// A change is picked up without restart.
	writeRuntimeFile(t, path, "overrides:\n  strict:\n    action: sum\n")
	require.Eventually(t, func() bool { return o.For("strict").Rules.Default() == ActionSum }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, ActionKeepFirst, o.For("ksm").Rules.Default(), "a tenant left out of the file is back to the defaults")

	// Broken files keep the last good configuration, and are counted.
	for _, broken := range []string{
		"overrides:\n  strict:\n    rules:\n      - match: '{job=~\"(\"}'\n        action: sum\n",
		"overrides:\n  strict:\n    acton: reject\n",
		"overrides: [not, a, map",
	} {
		before := testutil.ToFloat64(o.failures)
		writeRuntimeFile(t, path, broken)
		require.Eventually(t, func() bool { return testutil.ToFloat64(o.failures) > before }, 10*time.Second, 10*time.Millisecond)
		require.Equal(t, ActionSum, o.For("strict").Rules.Default(), broken)
	}
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP pushguard_runtime_config_last_reload_successful Whether the last runtime-config reload attempt was successful.
# TYPE pushguard_runtime_config_last_reload_successful gauge
pushguard_runtime_config_last_reload_successful{config="overrides"} 0
`), "pushguard_runtime_config_last_reload_successful"))

	// A file that is gone fails to read, before any validation: that
	// failure is counted too, every time, and changes nothing.
	writeRuntimeFile(t, path, "overrides:\n  strict:\n    action: keep-last\n")
	require.Eventually(t, func() bool { return o.For("strict").Rules.Default() == ActionKeepLast }, 10*time.Second, 10*time.Millisecond)
	before := testutil.ToFloat64(o.failures)
	require.NoError(t, os.Remove(path))
	require.Eventually(t, func() bool { return testutil.ToFloat64(o.failures) >= before+2 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, ActionKeepLast, o.For("strict").Rules.Default())
}

func TestOverridesInvalidAtStartup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtime.yaml")
	writeRuntimeFile(t, path, "overrides:\n  team-a:\n    rules:\n      - match: 'up{'\n        action: sum\n")
	o, err := NewOverrides(defaultsConfig(), RuntimeConfig{File: []string{path}, ReloadPeriod: time.Second}, log.NewNopLogger(), prometheus.NewRegistry())
	require.NoError(t, err)
	err = services.StartAndAwaitRunning(context.Background(), o.Service())
	require.ErrorContains(t, err, `tenant "team-a": invalid validator rules: rule 1 (match "up{")`)
}

func TestConfigValidateNamesTheBadRule(t *testing.T) {
	cfg := defaultsConfig()
	cfg.Rules = []RuleConfig{{Match: `up`, Action: "sum"}, {Match: `{__name__=}`, Action: "label"}}
	require.ErrorContains(t, cfg.Validate(), `rule 2 (match "{__name__=}")`)
	cfg.Rules = nil
	cfg.DisambiguationLabel = "__index"
	require.ErrorContains(t, cfg.Validate(), "disambiguation-label")
}
