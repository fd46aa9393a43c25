package deploy

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

const chartDir = "helm/pushguard"

// renderChart renders the chart as `helm template` would, in strict mode
// (a template reading a value that does not exist fails).
func renderChart(t *testing.T, vals chartutil.Values) (string, string) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	require.NoError(t, err)
	opts := chartutil.ReleaseOptions{Name: "pushguard", Namespace: "mimir", Revision: 1, IsInstall: true}
	rv, err := chartutil.ToRenderValues(chrt, vals, opts, chartutil.DefaultCapabilities)
	require.NoError(t, err)
	out, err := engine.Engine{Strict: true}.Render(chrt, rv)
	require.NoError(t, err)

	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)
	var stream, notes strings.Builder
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") {
			notes.WriteString(out[name])
			continue
		}
		stream.WriteString("---\n# Source: " + name + "\n" + out[name] + "\n")
	}
	return stream.String(), notes.String()
}

func valuesFile(t *testing.T, name string) chartutil.Values {
	t.Helper()
	v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, name))
	require.NoError(t, err)
	return v
}

func TestHelmChartLints(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
	}{
		{"default values", nil},
		{"example values", valuesFile(t, "ci/example-values.yaml")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			linter := lint.All(chartDir, tc.vals, "mimir", false)
			for _, m := range linter.Messages {
				require.Less(t, m.Severity, support.WarningSev, "helm lint: %s", m)
			}
		})
	}
}

func TestHelmChartDefaultValues(t *testing.T) {
	stream, notes := renderChart(t, nil)
	objs := decodeManifests(t, stream)
	dep, cm := checkWorkload(t, objs)

	require.EqualValues(t, 2, *dep.Spec.Replicas)
	require.Equal(t, "pushguard/pushguard:0.1.0", dep.Spec.Template.Spec.Containers[0].Image, "image tag defaults to appVersion")
	require.Empty(t, objs.serviceMonitors, "the ServiceMonitor is opt-in: its CRD may not be installed")
	require.NotContains(t, cm.Data, "runtime.yaml")
	require.NotContains(t, argsString(dep), "-runtime-config.file")
	require.Contains(t, cm.Data["config.yaml"], "action: report")
	require.Contains(t, cm.Data["config.yaml"], "url: http://mimir-distributor.mimir.svc.cluster.local:8080/api/v1/push")
	require.NotEmpty(t, dep.Spec.Template.Annotations["checksum/config"], "config changes roll the pods")
	require.Contains(t, notes, "http://pushguard.mimir.svc:8080/api/v1/push")
	require.Contains(t, notes, "Accepted pushes are forwarded to http://mimir-distributor.mimir.svc.cluster.local:8080/api/v1/push.")
}

// TestHelmChartNotesNameTheUpstream: the notes name the upstream the pods
// forward to; a gRPC one is no embedded TSDB.
func TestHelmChartNotesNameTheUpstream(t *testing.T) {
	for want, upstream := range map[string]map[string]any{
		"forwarded over gRPC to dns:///mimir-distributor-headless.mimir.svc:9095":          {"url": "", "grpc_address": "dns:///mimir-distributor-headless.mimir.svc:9095"},
		"land in the embedded TSDB of each pod":                                            {"url": ""},
		"to http://d:8080/api/v1/push (HTTP pushes) and over gRPC to d:9095 (gRPC pushes)": {"url": "http://d:8080/api/v1/push", "grpc_address": "d:9095"},
	} {
		_, notes := renderChart(t, chartutil.Values{"config": map[string]any{"upstream": upstream}})
		require.Contains(t, notes, want)
	}
}

// TestHelmChartRuntimeConfigDoesNotRoll: the runtime file is reloaded in
// place, so a change to it keeps the pods (and their reports and records);
// a change to the configuration rolls them.
func TestHelmChartRuntimeConfigDoesNotRoll(t *testing.T) {
	checksum := func(vals chartutil.Values) string {
		stream, _ := renderChart(t, vals)
		dep, _ := checkWorkload(t, decodeManifests(t, stream))
		return dep.Spec.Template.Annotations["checksum/config"]
	}
	runtime := func(action string) map[string]any {
		return map[string]any{"overrides": map[string]any{"team-a": map[string]any{"action": action}}}
	}
	base := checksum(chartutil.Values{"runtimeConfig": runtime("keep-first")})
	require.Equal(t, base, checksum(chartutil.Values{"runtimeConfig": runtime("sum")}))
	require.NotEqual(t, base, checksum(chartutil.Values{"runtimeConfig": runtime("keep-first"), "config": map[string]any{"validator": map[string]any{"action": "keep-first"}}}))
}

func TestHelmChartExampleValues(t *testing.T) {
	stream, _ := renderChart(t, valuesFile(t, "ci/example-values.yaml"))
	objs := decodeManifests(t, stream)
	dep, cm := checkWorkload(t, objs)

	require.EqualValues(t, 3, *dep.Spec.Replicas)
	c := dep.Spec.Template.Spec.Containers[0]
	require.Equal(t, "registry.example.com/observability/pushguard:0.1.0", c.Image)
	require.Contains(t, c.Args, "-log.format=json")
	require.Equal(t, "2", c.Resources.Limits.Memory().String()[:1])
	require.Len(t, dep.Spec.Template.Spec.TopologySpreadConstraints, 1)
	require.Contains(t, cm.Data["config.yaml"], "action: keep-first")
	require.Contains(t, cm.Data["config.yaml"], "ignore_labels: scrape_pool")
	require.Contains(t, cm.Data["runtime.yaml"], "action: keep-last")
	require.Contains(t, c.Args, "-runtime-config.file=/etc/pushguard/runtime.yaml")

	pdb := only(t, objs.pdbs)
	require.NotNil(t, pdb.Spec.MinAvailable)
	require.Equal(t, 2, pdb.Spec.MinAvailable.IntValue())

	sm := only(t, objs.serviceMonitors)
	require.Equal(t, "kube-prometheus-stack", sm.Labels["release"])
	require.Len(t, sm.Spec.Endpoints[0].RelabelConfigs, 1)
	require.Equal(t, []string{"mimir"}, sm.Spec.NamespaceSelector.MatchNames)
}

func TestHelmChartRuntimeConfig(t *testing.T) {
	stream, _ := renderChart(t, chartutil.Values{
		"runtimeConfig": map[string]any{"overrides": map[string]any{"team-a": map[string]any{"action": "keep-first"}}},
	})
	objs := decodeManifests(t, stream)
	dep, cm := checkWorkload(t, objs)
	require.Contains(t, cm.Data["runtime.yaml"], "team-a:")
	require.Contains(t, dep.Spec.Template.Spec.Containers[0].Args, "-runtime-config.file=/etc/pushguard/runtime.yaml")
}

// TestHelmChartUpstreamTLS: the certificates of an https upstream come
// from a Secret mounted with extraVolumes and extraVolumeMounts, and the
// configuration names the mounted files.
func TestHelmChartUpstreamTLS(t *testing.T) {
	stream, _ := renderChart(t, chartutil.Values{
		"config": map[string]any{"upstream": map[string]any{
			"url":         "https://mimir-gateway.mimir.svc:443/api/v1/push",
			"tls_ca_path": "/etc/pushguard-tls/ca.crt",
		}},
		"extraVolumes":      []any{map[string]any{"name": "upstream-tls", "secret": map[string]any{"secretName": "pushguard-upstream-tls"}}},
		"extraVolumeMounts": []any{map[string]any{"name": "upstream-tls", "mountPath": "/etc/pushguard-tls", "readOnly": true}},
	})
	objs := decodeManifests(t, stream)
	dep, cm := checkWorkload(t, objs)
	require.Contains(t, cm.Data["config.yaml"], "tls_ca_path: /etc/pushguard-tls/ca.crt")
	spec := dep.Spec.Template.Spec
	require.Len(t, spec.Volumes, 3, "config, data and the extra volume")
	require.Equal(t, "upstream-tls", spec.Volumes[2].Name)
	require.Equal(t, "pushguard-upstream-tls", spec.Volumes[2].Secret.SecretName)
	mounts := spec.Containers[0].VolumeMounts
	require.Len(t, mounts, 3)
	require.Equal(t, "/etc/pushguard-tls", mounts[2].MountPath)
	require.True(t, mounts[2].ReadOnly)
}
