package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/pushguard/pushguard/validator"
)

// TestDeployConfigsLoad loads every pushguard configuration shipped in
// deploy/ (the Kustomize files and the Helm chart's `config` and
// `runtimeConfig` values) the way the binary does, unknown keys refused, and
// validates it.
func TestDeployConfigsLoad(t *testing.T) {
	type shipped struct{ config, runtime []byte }
	configs := map[string]shipped{}
	for _, f := range []string{"kustomize/base/config.yaml", "kustomize/overlays/example/config.yaml"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", f))
		require.NoError(t, err)
		configs[f] = shipped{config: raw}
	}
	for _, f := range []string{"helm/pushguard/values.yaml", "helm/pushguard/ci/example-values.yaml"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", f))
		require.NoError(t, err)
		var values struct {
			Config        map[string]any `yaml:"config"`
			RuntimeConfig map[string]any `yaml:"runtimeConfig"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &values), f)
		require.NotEmpty(t, values.Config, f)
		var s shipped
		s.config, err = yaml.Marshal(values.Config)
		require.NoError(t, err)
		if len(values.RuntimeConfig) > 0 {
			s.runtime, err = yaml.Marshal(values.RuntimeConfig)
			require.NoError(t, err)
		}
		configs[f] = s
	}
	runtimeFiles := 0
	for name, s := range configs {
		t.Run(name, func(t *testing.T) {
			var cfg Config
			_, err := parseConfig([]string{"-config.file=" + writeFile(t, string(s.config))}, &cfg)
			require.NoError(t, err)
			require.NoError(t, cfg.Validate())
			require.NotEmpty(t, cfg.Upstream.URL, "deployed in front of Mimir")
			if s.runtime == nil {
				return
			}
			runtimeFiles++
			// The runtime file loader refuses to start on an invalid file.
			rc := validator.RuntimeConfig{File: []string{writeFile(t, string(s.runtime))}, ReloadPeriod: time.Minute}
			o, err := validator.NewOverrides(cfg.Validator, rc, log.NewNopLogger(), prometheus.NewRegistry())
			require.NoError(t, err)
			require.NoError(t, services.StartAndAwaitRunning(context.Background(), o.Service()))
			require.NoError(t, services.StopAndAwaitTerminated(context.Background(), o.Service()))
		})
	}
	require.Positive(t, runtimeFiles, "the example values ship a runtime file")
}
