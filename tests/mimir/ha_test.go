package mimir

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// TestHAPairThroughPushguard sends an HA pair through pushguard into
// Mimir's HA tracker, over each kind of upstream. The standby replica's
// push is answered 202 (deduplicated, as Mimir answers it), and it teaches
// the cross-request record nothing: with __replica__ left out of identity,
// the elected replica's next sample at the same timestamp is stored, not
// dropped by keep-first as a repeat of a sample Mimir never took.
func TestHAPairThroughPushguard(t *testing.T) {
	m := startMimir(t)
	crossRequest, extra := crossRequestFlags(t)
	if !crossRequest {
		t.Skip("this pushguard has no across-request detection")
	}
	for name, upstream := range map[string][]string{
		"http": {"-upstream.url=" + m.pushURL()},
		"grpc": {"-upstream.url=", "-upstream.grpc-address=" + m.grpcAddr},
	} {
		t.Run(name, func(t *testing.T) {
			args := append(append([]string{"-validator.ignore-labels=__replica__"}, extra...), upstream...)
			pg := startPushguard(t, m.pushURL(), "keep-first", args...)
			pushURL := "http://" + pg.addr + "/api/v1/push"
			tenant, cluster := "pg-ha-"+name, "ha-"+name
			replica := func(r string, at time.Time, v float64) prompb.TimeSeries {
				return series(at, []string{"__name__", "ha_up", "cluster", cluster, "__replica__", r}, v)
			}
			t1 := time.Now().Truncate(time.Second)
			t2 := t1.Add(time.Second)

			status, body := push(t, pushURL, tenant, replica("a", t1, 1))
			require.Equal(t, http.StatusOK, status, body)
			status, body = push(t, pushURL, tenant, replica("b", t2, 5))
			require.Equal(t, http.StatusAccepted, status, "the standby is deduplicated, as Mimir answers it: %s", body)
			status, body = push(t, pushURL, tenant, replica("a", t2, 2))
			require.Equal(t, http.StatusOK, status, body)

			want := `ha_up{cluster="` + cluster + `"}`
			require.Equal(t, map[string]string{want: "2"}, m.query(t, tenant, "ha_up", t2))
			require.Empty(t, pg.offenders(t, tenant), "no sample repeats one Mimir stored")
		})
	}
}
