package report

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// maxOffenderBytes is the documented memory bound of one stored offender
// with a typical label set (README, "The report"): the store's memory is at
// most -validator.max-offenders times this.
const maxOffenderBytes = 4 << 10

// TestStoreStorm records a million distinct offenders, as a misconfigured
// sender with a per-request label (a timestamp in a label, say) would
// produce, and checks that the store keeps to its bounds, says how many it
// evicted and costs no more memory than documented.
func TestStoreStorm(t *testing.T) {
	if raceEnabled {
		// The race detector makes a million offenders take minutes; make
		// test runs this test on its own without it.
		t.Skip("runs without -race: go test -run TestStoreStorm ./validator/report")
	}
	const (
		total        = 1_000_000
		tenants      = 10
		maxPerTenant = 1000
		maxOffenders = 5000
		batch        = 1000
	)
	heapAfterGC := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	reg := prometheus.NewRegistry()
	before := heapAfterGC()
	s := NewStore(maxPerTenant, reg, WithMaxOffenders(maxOffenders))

	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	offenders := make([]*Offender, batch)
	for i := 0; i < total; i += batch {
		for k := range batch {
			n := i + k
			tenant := "tenant-" + strconv.Itoa(n%tenants)
			// Values of realistic size; every offender distinct by its pod.
			pod := "renovate-28883520-" + strconv.Itoa(n)
			offenders[k] = &Offender{
				Tenant: tenant, Metric: "kube_job_status_failed", Kind: "across_series",
				Origin:             map[string]string{"job": "kube-state-metrics", "namespace": "renovate", "pod": pod},
				ConflictingSamples: 1, FirstSeen: now, LastSeen: now, Action: "report", UserAgent: "Prometheus/3.1.0",
				Example: Example{
					Labels: map[string]string{
						"__name__": "kube_job_status_failed", "job": "kube-state-metrics", "namespace": "renovate",
						"pod": pod, "job_name": "renovate-28883520", "reason": "BackoffLimitExceeded",
					},
					TimestampMs: now.UnixMilli(), Values: []Value{1, 0},
				},
			}
		}
		s.Record(offenders)
	}
	clear(offenders)
	used := int64(heapAfterGC()) - int64(before)

	st := s.Stats()
	require.Equal(t, maxOffenders, st.Offenders, "the global bound holds")
	require.EqualValues(t, total-maxOffenders, st.Evicted, "every offender not kept is counted as evicted")
	require.Len(t, st.Tenants, tenants)
	var kept int
	for _, tenant := range st.Tenants {
		got, evicted := s.List(tenant, Filter{})
		require.LessOrEqual(t, len(got), maxPerTenant)
		kept += len(got)
		require.Equal(t, float64(evicted), testutil.ToFloat64(s.evictions.WithLabelValues(tenant)))
	}
	require.Equal(t, maxOffenders, kept)
	t.Logf("%d offenders kept, %d evicted, %d bytes of heap (%d an offender)", st.Offenders, st.Evicted, used, used/int64(st.Offenders))
	require.Less(t, used, int64(maxOffenders*maxOffenderBytes), "memory over the documented bound")
	runtime.KeepAlive(s)
}
