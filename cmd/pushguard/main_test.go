package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/validator"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite the configuration reference in README.md")

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestParseConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		var cfg Config
		_, err := parseConfig(nil, &cfg)
		require.NoError(t, err)
		require.Equal(t, 8080, cfg.Server.HTTPListenPort)
		require.Equal(t, 9095, cfg.Server.GRPCListenPort)
		require.Equal(t, "report", cfg.Validator.Action)
		require.True(t, cfg.Auth.MultitenancyEnabled)
		require.Equal(t, "anonymous", cfg.Auth.NoAuthTenant)
		require.Equal(t, []string{"job", "instance", "namespace", "pod", "container", "cluster", "__replica__"}, []string(cfg.Validator.OriginLabels))
		require.NoError(t, cfg.Validate())
	})
	t.Run("yaml, then flags win", func(t *testing.T) {
		p := writeFile(t, `
server:
  http_listen_port: 1234
validator:
  action: keep-first
  origin_labels: job,pod
  cross_request:
    max_series: 5000
    ttl: 30m
upstream:
  url: http://127.0.0.1:9009/api/v1/push
`)
		var cfg Config
		file, err := parseConfig([]string{"-config.file=" + p, "-server.http-listen-port=4321"}, &cfg)
		require.NoError(t, err)
		require.Equal(t, p, file)
		require.Equal(t, 4321, cfg.Server.HTTPListenPort)
		require.Equal(t, "keep-first", cfg.Validator.Action)
		require.Equal(t, []string{"job", "pod"}, []string(cfg.Validator.OriginLabels))
		require.Equal(t, 5000, cfg.Validator.CrossRequest.MaxSeries)
		require.Equal(t, 30*time.Minute, cfg.Validator.CrossRequest.TTL)
		require.True(t, cfg.Validator.CrossRequest.Enabled)
		require.Equal(t, "http://127.0.0.1:9009/api/v1/push", cfg.Upstream.URL)
		require.NoError(t, cfg.Validate())
	})
	t.Run("rules and runtime config from yaml", func(t *testing.T) {
		p := writeFile(t, `
validator:
  action: keep-first
  rules:
    - match: '{job="kube-state-metrics"}'
      kinds: [across_series]
      action: label
runtime_config:
  file: /etc/pushguard/runtime.yaml
  period: 5s
`)
		var cfg Config
		_, err := parseConfig([]string{"-config.file=" + p}, &cfg)
		require.NoError(t, err)
		require.Equal(t, []validator.RuleConfig{{Match: `{job="kube-state-metrics"}`, Kinds: []string{"across_series"}, Action: "label"}}, cfg.Validator.Rules)
		require.Equal(t, []string{"/etc/pushguard/runtime.yaml"}, []string(cfg.Runtime.File))
		require.Equal(t, 5*time.Second, cfg.Runtime.ReloadPeriod)
		require.NoError(t, cfg.Validate())
	})
	t.Run("upstream TLS from yaml", func(t *testing.T) {
		p := writeFile(t, `
upstream:
  url: https://mimir-gateway:443/api/v1/push
  tls_ca_path: /etc/pushguard-tls/ca.crt
  tls_cert_path: /etc/pushguard-tls/tls.crt
  tls_key_path: /etc/pushguard-tls/tls.key
  tls_server_name: mimir.example.com
`)
		var cfg Config
		_, err := parseConfig([]string{"-config.file=" + p}, &cfg)
		require.NoError(t, err)
		require.Equal(t, "/etc/pushguard-tls/ca.crt", cfg.Upstream.TLS.CAPath)
		require.Equal(t, "/etc/pushguard-tls/tls.crt", cfg.Upstream.TLS.CertPath)
		require.Equal(t, "/etc/pushguard-tls/tls.key", cfg.Upstream.TLS.KeyPath)
		require.Equal(t, "mimir.example.com", cfg.Upstream.TLS.ServerName)
		require.NoError(t, cfg.Validate())
		cfg.Upstream.URL = "HTTPS://mimir-gateway:443/api/v1/push"
		require.NoError(t, cfg.Validate(), "a URL's scheme is case-insensitive")
	})
	t.Run("an invalid rule is a start-up error naming it", func(t *testing.T) {
		p := writeFile(t, "validator:\n  rules:\n    - match: 'up{job='\n      action: sum\n")
		var cfg Config
		_, err := parseConfig([]string{"-config.file=" + p}, &cfg)
		require.NoError(t, err)
		require.ErrorContains(t, cfg.Validate(), `rule 1 (match "up{job=")`)
	})
	t.Run("unknown yaml key is an error", func(t *testing.T) {
		var cfg Config
		_, err := parseConfig([]string{"-config.file=" + writeFile(t, "validator:\n  acton: report\n")}, &cfg)
		require.ErrorContains(t, err, "acton")
	})
	t.Run("an argument that is not a flag is an error, not the end of the flags", func(t *testing.T) {
		var cfg Config
		_, err := parseConfig([]string{"-auth.multitenancy-enabled", "false", "-upstream.url=http://127.0.0.1:9009/api/v1/push"}, &cfg)
		require.ErrorContains(t, err, `unexpected argument "false"`)
	})
	t.Run("a second YAML document is an error", func(t *testing.T) {
		var cfg Config
		_, err := parseConfig([]string{"-config.file=" + writeFile(t, "validator:\n  action: report\n---\nvalidator:\n  acton: keep-first\n")}, &cfg)
		require.ErrorContains(t, err, "more than one YAML document")
	})
	t.Run("a tenant without multitenancy is checked only then", func(t *testing.T) {
		var cfg Config
		_, err := parseConfig([]string{"-auth.no-auth-tenant="}, &cfg)
		require.NoError(t, err)
		require.NoError(t, cfg.Validate(), "multitenancy on: the no-auth tenant is not used")
	})
	t.Run("invalid values fail validation", func(t *testing.T) {
		for _, args := range [][]string{
			{"-validator.action=explode"},
			{"-upstream.url=ftp://x"},
			{"-upstream.timeout=0s"},
			{"-upstream.url=http://mimir:8080/api/v1/push", "-upstream.tls-ca-path=/etc/ca.pem"},
			{"-upstream.tls-ca-path=/etc/ca.pem"},
			{"-upstream.max-response-bytes=0"},
			{"-upstream.max-response-bytes=-1"},
			{"-log.format=xml"},
			{"-auth.multitenancy-enabled=false", "-auth.no-auth-tenant="},
			{"-auth.multitenancy-enabled=false", "-auth.no-auth-tenant=../escape"},
		} {
			var cfg Config
			_, err := parseConfig(args, &cfg)
			require.NoError(t, err)
			require.Error(t, cfg.Validate(), args)
		}
	})
	t.Run("the HTTP server gives a push more time than the upstream call", func(t *testing.T) {
		for args, want := range map[string]string{
			"-upstream.timeout=60s":                                  "",
			"-upstream.timeout=300s":                                 "-upstream.timeout (5m0s) must be shorter than -server.http-write-timeout (2m0s)",
			"-upstream.timeout=300s -server.http-write-timeout=330s": "",
			"-upstream.timeout=20s -server.http-write-timeout=20s":   "must be shorter than -server.http-write-timeout",
			"-upstream.timeout=20s -server.http-write-timeout=0s":    "",
		} {
			var cfg Config
			_, err := parseConfig(strings.Fields(args), &cfg)
			require.NoError(t, err)
			if want == "" {
				require.NoError(t, cfg.Validate(), args)
			} else {
				require.ErrorContains(t, cfg.Validate(), want, args)
			}
		}
	})
}

const (
	refBegin = "<!-- config-reference:begin -->"
	refEnd   = "<!-- config-reference:end -->"
)

// configReference renders pushguard's own flags (the dskit -server.* and
// -upstream.grpc-client.* flags are documented by dskit) as a Markdown
// table.
func configReference() string {
	var cfg Config
	fs, _ := newFlagSet(&cfg)
	var b strings.Builder
	b.WriteString("| flag | default | meaning |\n|---|---|---|\n")
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "server.") || strings.HasPrefix(f.Name, "log.") || strings.HasPrefix(f.Name, "upstream.grpc-client.") {
			return
		}
		def := f.DefValue
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `-%s` | %s | %s |\n", f.Name, def, strings.ReplaceAll(f.Usage, "|", "\\|"))
	})
	return b.String()
}

// TestREADMEConfigReference keeps the README's configuration reference equal
// to the flags; `make docs` rewrites it.
func TestREADMEConfigReference(t *testing.T) {
	path := "../../README.md"
	readme, err := os.ReadFile(path)
	require.NoError(t, err)
	s := string(readme)
	begin, end := strings.Index(s, refBegin), strings.Index(s, refEnd)
	require.True(t, begin >= 0 && end > begin, "README.md lacks the reference markers")
	want := s[:begin+len(refBegin)] + "\n" + configReference() + s[end:]
	if *updateReadme {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
		return
	}
	require.Equal(t, want, s, "README's configuration reference is stale: run `make docs`")
}
