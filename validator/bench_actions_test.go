package validator

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkPatchActions plans and encodes the benchmark request under each
// action that rewrites it, as a push does (EncodeFrom: spliced into the
// sender's snappy block, or compressed anew when that is smaller).
func BenchmarkPatchActions(b *testing.B) {
	for _, action := range []Action{ActionKeepFirst, ActionKeepLast, ActionKeepMax, ActionKeepMin, ActionSum, ActionLabel} {
		for _, rate := range benchDupRates {
			b.Run(string(action)+"/"+rate.name, func(b *testing.B) {
				ib := newInspectBench(b, rate.dups)
				var p Patch
				var policy Policy = StaticPolicy(action)
				require.True(b, p.Plan(&ib.req, &ib.res, policy))
				p.EncodeFrom(&ib.req, ib.body)
				b.ReportAllocs()
				b.SetBytes(int64(len(ib.body)))
				for b.Loop() {
					if !p.Plan(&ib.req, &ib.res, policy) {
						b.Fatal("nothing to patch")
					}
					p.EncodeFrom(&ib.req, ib.body)
				}
			})
		}
	}
}

// BenchmarkPlanRules plans with a realistic rule list, the per-duplicate
// cost of matching selectors.
func BenchmarkPlanRules(b *testing.B) {
	rules, err := CompileRules([]RuleConfig{
		{Match: `{__name__=~"container_.*", job="kubelet"}`, Kinds: []string{"within_series"}, Action: "keep-first"},
		{Match: `{__name__=~".+_total", namespace=~"payments|checkout"}`, Action: "sum"},
		{Match: `{__name__=~"kube_.*", job="kube-state-metrics"}`, Kinds: []string{"across_series"}, Action: "label"},
	}, ActionKeepLast)
	require.NoError(b, err)
	ib := newInspectBench(b, benchSeries/10)
	var p Patch
	p.Plan(&ib.req, &ib.res, rules)
	b.ReportAllocs()
	for b.Loop() {
		p.Plan(&ib.req, &ib.res, rules)
	}
}

func TestPlanDoesNotAllocate(t *testing.T) {
	ib := newInspectBench(t, benchSeries/10)
	for _, action := range []Action{ActionKeepFirst, ActionKeepLast, ActionKeepMax, ActionKeepMin, ActionSum, ActionLabel} {
		var p Patch
		var policy Policy = StaticPolicy(action)
		p.Plan(&ib.req, &ib.res, policy)
		p.Encode(&ib.req)
		allocs := testing.AllocsPerRun(10, func() {
			p.Plan(&ib.req, &ib.res, policy)
			p.Encode(&ib.req)
		})
		require.Zero(t, allocs, action)
	}
}
