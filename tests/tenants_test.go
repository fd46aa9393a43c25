package tests

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var tenantLabelRE = regexp.MustCompile(`tenant="([^"]*)"`)

// tenantsOnMetrics returns the tenants that pushguard's own series on
// /metrics name, with how many series each.
func tenantsOnMetrics(t testing.TB, inst *instance) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(inst.metrics(t), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if m := tenantLabelRE.FindStringSubmatch(line); m != nil {
			out[m[1]]++
		}
	}
	return out
}

// Tenants come and go (any X-Scope-OrgID is accepted): once idle for
// -validator.tenant-idle-timeout, a tenant's series leave /metrics, while a
// tenant that keeps pushing keeps its own.
func TestTenantChurnLeavesNoSeries(t *testing.T) {
	up := newFakeUpstream(t)
	inst := startPushguard(t, "-upstream.url="+up.URL(), "-validator.tenant-idle-timeout=2s", "-validator.max-offenders=1")
	at := time.Now().Truncate(time.Second)
	const churned = 30
	for i := range churned {
		c := inst.writeClient(t, fmt.Sprintf("churn-%d", i))
		require.NoError(t, push(t, c, ts(1, at, "__name__", "up", "job", "a"), ts(2, at, "__name__", "up", "job", "a")))
	}
	steady := inst.writeClient(t, "steady")
	// Its duplicate takes the report's one offender from the last
	// churned tenant, whose offender series go with it.
	require.NoError(t, push(t, steady, ts(1, at, "__name__", "up", "job", "s"), ts(2, at, "__name__", "up", "job", "s")))
	before := tenantsOnMetrics(t, inst)
	for i := range churned {
		require.Positive(t, before[fmt.Sprintf("churn-%d", i)], "churn-%d", i)
	}
	steadySeries := before["steady"]

	next := at
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		next = next.Add(time.Second)
		assert.NoError(c, push(t, steady, ts(1, next, "__name__", "up", "job", "s")))
		got := tenantsOnMetrics(t, inst)
		tenants := make([]string, 0, len(got))
		for tenant := range got {
			tenants = append(tenants, tenant)
		}
		slices.Sort(tenants)
		assert.Equal(c, []string{"steady"}, tenants)
	}, time.Minute, 200*time.Millisecond)
	require.Equal(t, steadySeries, tenantsOnMetrics(t, inst)["steady"], "the steady tenant keeps every series it had")
}
