package deploy

import (
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// buildKustomization runs `kustomize build dir` in process.
func buildKustomization(t *testing.T, dir string) string {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err)
	out, err := m.AsYaml()
	require.NoError(t, err)
	return string(out)
}

func TestKustomizeBase(t *testing.T) {
	objs := decodeManifests(t, buildKustomization(t, "kustomize/base"))
	dep, cm := checkWorkload(t, objs)
	require.EqualValues(t, 2, *dep.Spec.Replicas)
	require.Equal(t, "pushguard/pushguard:0.1.0", dep.Spec.Template.Spec.Containers[0].Image)
	require.Regexp(t, `^pushguard-[a-z0-9]+$`, cm.Name, "the generated name carries a content hash")
	require.Contains(t, cm.Data["config.yaml"], "action: report")
	require.Empty(t, objs.serviceMonitors)
}

func TestKustomizeExampleOverlay(t *testing.T) {
	objs := decodeManifests(t, buildKustomization(t, "kustomize/overlays/example"))
	dep, cm := checkWorkload(t, objs)
	require.Equal(t, "mimir", dep.Namespace)
	require.EqualValues(t, 3, *dep.Spec.Replicas)
	c := dep.Spec.Template.Spec.Containers[0]
	require.Equal(t, "registry.example.com/observability/pushguard:0.1.0", c.Image)
	require.Equal(t, "1", c.Resources.Requests.Cpu().String())
	require.Len(t, dep.Spec.Template.Spec.TopologySpreadConstraints, 1)
	require.Contains(t, cm.Data["config.yaml"], "action: keep-first")
	sm := only(t, objs.serviceMonitors)
	require.Equal(t, "mimir", sm.Namespace)
}
