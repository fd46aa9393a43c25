package tests

import (
	"path/filepath"
	"testing"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/config"
	"github.com/stretchr/testify/require"
)

// TestPrometheusSnippets loads the remote_write snippets of deploy/prometheus
// with Prometheus' own configuration loader, which refuses unknown fields
// and unknown protobuf messages.
func TestPrometheusSnippets(t *testing.T) {
	for file, message := range map[string]string{
		"remote-write.yaml":    "prometheus.WriteRequest",
		"remote-write-v2.yaml": "io.prometheus.write.v2.Request",
	} {
		t.Run(file, func(t *testing.T) {
			cfg, err := config.LoadFile(filepath.Join("..", "deploy", "prometheus", file), false, promslog.NewNopLogger())
			require.NoError(t, err)
			require.Len(t, cfg.RemoteWriteConfigs, 1)
			rw := cfg.RemoteWriteConfigs[0]
			require.Equal(t, "/api/v1/push", rw.URL.Path)
			require.Equal(t, "8080", rw.URL.Port(), "pushguard's HTTP port")
			require.Equal(t, message, string(rw.ProtobufMessage))
			require.NotEmpty(t, rw.Headers["X-Scope-OrgID"], "Mimir needs the tenant")
		})
	}
}
