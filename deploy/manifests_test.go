// Package deploy holds the tests of pushguard's Kubernetes manifests: the
// Helm chart and the Kustomize base render, and every object they produce
// decodes strictly into its Kubernetes API type.
package deploy

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	yamlv3 "go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// objects is what one rendering produced, by kind and name.
type objects struct {
	deployments     map[string]*appsv1.Deployment
	services        map[string]*corev1.Service
	configMaps      map[string]*corev1.ConfigMap
	serviceAccounts map[string]*corev1.ServiceAccount
	pdbs            map[string]*policyv1.PodDisruptionBudget
	serviceMonitors map[string]*monitoringv1.ServiceMonitor
}

// decodeManifests splits a multi-document YAML stream and decodes each
// object strictly into its API type: an unknown or misspelt field, a value
// of the wrong type or a kind the chart should not produce fails the test.
func decodeManifests(t *testing.T, stream string) objects {
	t.Helper()
	objs := objects{
		deployments:     map[string]*appsv1.Deployment{},
		services:        map[string]*corev1.Service{},
		configMaps:      map[string]*corev1.ConfigMap{},
		serviceAccounts: map[string]*corev1.ServiceAccount{},
		pdbs:            map[string]*policyv1.PodDisruptionBudget{},
		serviceMonitors: map[string]*monitoringv1.ServiceMonitor{},
	}
	dec := yamlv3.NewDecoder(strings.NewReader(stream))
	for {
		var node yamlv3.Node
		err := dec.Decode(&node)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		var buf bytes.Buffer
		enc := yamlv3.NewEncoder(&buf)
		require.NoError(t, enc.Encode(&node))
		doc := buf.Bytes()
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		require.NoError(t, yaml.Unmarshal(doc, &meta))
		if meta.Kind == "" {
			continue // an empty document
		}
		gvk := meta.APIVersion + "/" + meta.Kind
		var name string
		switch gvk {
		case "apps/v1/Deployment":
			o := &appsv1.Deployment{}
			strict(t, doc, o)
			name, objs.deployments[o.Name] = o.Name, o
		case "v1/Service":
			o := &corev1.Service{}
			strict(t, doc, o)
			name, objs.services[o.Name] = o.Name, o
		case "v1/ConfigMap":
			o := &corev1.ConfigMap{}
			strict(t, doc, o)
			name, objs.configMaps[o.Name] = o.Name, o
		case "v1/ServiceAccount":
			o := &corev1.ServiceAccount{}
			strict(t, doc, o)
			name, objs.serviceAccounts[o.Name] = o.Name, o
		case "policy/v1/PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			strict(t, doc, o)
			name, objs.pdbs[o.Name] = o.Name, o
		case "monitoring.coreos.com/v1/ServiceMonitor":
			o := &monitoringv1.ServiceMonitor{}
			strict(t, doc, o)
			name, objs.serviceMonitors[o.Name] = o.Name, o
		default:
			t.Fatalf("unexpected object %s:\n%s", gvk, doc)
		}
		require.NotEmpty(t, name, "%s without a name", gvk)
	}
	return objs
}

func strict(t *testing.T, doc []byte, into any) {
	t.Helper()
	require.NoError(t, yaml.UnmarshalStrict(doc, into), "%s", doc)
}

// only returns the single value of m.
func only[T any](t *testing.T, m map[string]T) T {
	t.Helper()
	require.Len(t, m, 1, "want exactly one object, got %v", keys(m))
	for _, v := range m {
		return v
	}
	panic("unreachable")
}

func keys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkWorkload asserts what every rendering must give an operator: a
// non-root pod probed on /ready, HTTP and gRPC ports on the pod and the
// Service, a PodDisruptionBudget and a Service that select the pods, and a
// mounted configuration that names an upstream.
func checkWorkload(t *testing.T, objs objects) (*appsv1.Deployment, *corev1.ConfigMap) {
	t.Helper()
	dep := only(t, objs.deployments)
	pod := dep.Spec.Template
	podLabels := pod.Labels
	require.True(t, selects(dep.Spec.Selector.MatchLabels, podLabels), "deployment selector %v vs pod labels %v", dep.Spec.Selector.MatchLabels, podLabels)

	require.NotNil(t, pod.Spec.SecurityContext)
	require.NotNil(t, pod.Spec.SecurityContext.RunAsNonRoot)
	require.True(t, *pod.Spec.SecurityContext.RunAsNonRoot)
	require.NotZero(t, *pod.Spec.SecurityContext.RunAsUser)

	require.Len(t, pod.Spec.Containers, 1)
	c := pod.Spec.Containers[0]
	require.NotEmpty(t, c.Image)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	require.Equal(t, map[string]int32{"http-metrics": 8080, "grpc": 9095}, ports)
	for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		require.NotNil(t, probe)
		require.NotNil(t, probe.HTTPGet)
		require.Equal(t, "/ready", probe.HTTPGet.Path)
		require.Equal(t, intstr.FromString("http-metrics"), probe.HTTPGet.Port)
	}
	require.NotNil(t, c.SecurityContext)
	require.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	require.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	require.Contains(t, c.SecurityContext.Capabilities.Drop, corev1.Capability("ALL"))
	require.False(t, c.Resources.Requests.Cpu().IsZero(), "CPU request")
	require.False(t, c.Resources.Limits.Memory().IsZero(), "memory limit")
	require.Contains(t, c.Args, "-config.file=/etc/pushguard/config.yaml")
	require.Contains(t, c.Args, "-server.http-listen-port=8080")
	require.Contains(t, c.Args, "-server.grpc-listen-port=9095")
	// SIGTERM: serve for the shutdown delay, then let pushes finish within
	// the graceful timeout (30s); the kubelet must wait for both.
	require.Contains(t, c.Args, "-shutdown-delay=5s")
	require.NotNil(t, pod.Spec.TerminationGracePeriodSeconds)
	require.Greater(t, *pod.Spec.TerminationGracePeriodSeconds, int64(5+30))

	// The config volume is the rendered ConfigMap, mounted where -config.file looks.
	var cmName string
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	require.Contains(t, objs.configMaps, cmName, "the config volume names a rendered ConfigMap")
	cm := objs.configMaps[cmName]
	var cfg struct {
		Upstream struct {
			URL string `json:"url"`
		} `json:"upstream"`
		Validator struct {
			Action string `json:"action"`
		} `json:"validator"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg), cm.Data["config.yaml"])
	require.True(t, strings.HasSuffix(cfg.Upstream.URL, "/api/v1/push"), "upstream %q is a distributor push URL", cfg.Upstream.URL)
	require.NotEmpty(t, cfg.Validator.Action)
	mounted := false
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/etc/pushguard" {
			mounted = true
		}
	}
	require.True(t, mounted, "config mounted at /etc/pushguard")

	svc := only(t, objs.services)
	require.True(t, selects(svc.Spec.Selector, podLabels), "service selector %v vs pod labels %v", svc.Spec.Selector, podLabels)
	svcPorts := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Name] = p.Port
		require.Equal(t, intstr.FromString(p.Name), p.TargetPort)
	}
	require.Equal(t, map[string]int32{"http-metrics": 8080, "grpc": 9095}, svcPorts)

	pdb := only(t, objs.pdbs)
	require.NotEmpty(t, pdb.Spec.Selector.MatchLabels)
	require.True(t, selects(pdb.Spec.Selector.MatchLabels, podLabels), "PDB selector %v vs pod labels %v", pdb.Spec.Selector.MatchLabels, podLabels)
	require.True(t, (pdb.Spec.MaxUnavailable == nil) != (pdb.Spec.MinAvailable == nil), "exactly one of maxUnavailable and minAvailable")

	sa := only(t, objs.serviceAccounts)
	require.Equal(t, sa.Name, pod.Spec.ServiceAccountName)

	for _, sm := range objs.serviceMonitors {
		require.True(t, selects(sm.Spec.Selector.MatchLabels, svc.Labels), "ServiceMonitor selector %v vs service labels %v", sm.Spec.Selector.MatchLabels, svc.Labels)
		require.Len(t, sm.Spec.Endpoints, 1)
		require.Equal(t, "http-metrics", sm.Spec.Endpoints[0].Port)
	}
	return dep, cm
}

// selects reports whether every selector label is among labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func argsString(dep *appsv1.Deployment) string {
	return fmt.Sprint(dep.Spec.Template.Spec.Containers[0].Args)
}
