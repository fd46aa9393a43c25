package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestDeployConfigsLoad loads every pushguard configuration shipped in
// deploy/ (the Kustomize files and the Helm chart's `config` values) the way
// the binary does, unknown keys refused, and validates it.
func TestDeployConfigsLoad(t *testing.T) {
	configs := map[string][]byte{}
	for _, f := range []string{"kustomize/base/config.yaml", "kustomize/overlays/example/config.yaml"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", f))
		require.NoError(t, err)
		configs[f] = raw
	}
	for _, f := range []string{"helm/pushguard/values.yaml", "helm/pushguard/ci/example-values.yaml"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", f))
		require.NoError(t, err)
		var values struct {
			Config map[string]any `yaml:"config"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &values), f)
		require.NotEmpty(t, values.Config, f)
		out, err := yaml.Marshal(values.Config)
		require.NoError(t, err)
		configs[f+" config"] = out
	}
	for name, raw := range configs {
		t.Run(name, func(t *testing.T) {
			var cfg Config
			_, err := parseConfig([]string{"-config.file=" + writeFile(t, string(raw))}, &cfg)
			require.NoError(t, err)
			require.NoError(t, cfg.Validate())
			require.NotEmpty(t, cfg.Upstream.URL, "deployed in front of Mimir")
		})
	}
}
