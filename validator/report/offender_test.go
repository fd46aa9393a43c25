package report

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValueJSON(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		json string
	}{
		{math.NaN(), `"NaN"`},
		{math.Inf(1), `"+Inf"`},
		{math.Inf(-1), `"-Inf"`},
		{0, `0`},
		{1, `1`},
		{-2.5, `-2.5`},
		{1e21, `1e+21`},
		{1.7976931348623157e308, `1.7976931348623157e+308`},
	} {
		t.Run(tc.json, func(t *testing.T) {
			b, err := json.Marshal(Value(tc.v))
			require.NoError(t, err)
			require.Equal(t, tc.json, string(b))

			var back Value
			require.NoError(t, json.Unmarshal(b, &back))
			if math.IsNaN(tc.v) {
				require.True(t, math.IsNaN(float64(back)))
			} else {
				require.Equal(t, tc.v, float64(back))
			}
		})
	}
}

func TestOffenderJSON(t *testing.T) {
	o := testOffender("kube_job_status_failed", "across_series", map[string]string{"job": "kube-state-metrics"}, 12, 0, 5*time.Minute)
	o.FirstSeen = storeEpoch
	o.UserAgent = "Prometheus/3.1.0"
	o.Example = Example{
		Labels:      map[string]string{"__name__": "kube_job_status_failed"},
		TimestampMs: 1732968015000,
		Values:      []Value{Value(math.NaN()), 0},
		Samples:     []string{"NaN", "0"},
	}
	b, err := json.Marshal(o)
	require.NoError(t, err)
	require.JSONEq(t, `{
		"tenant": "team-a",
		"metric": "kube_job_status_failed",
		"kind": "across_series",
		"origin": {"job": "kube-state-metrics"},
		"conflicting_samples": 12,
		"identical_samples": 0,
		"first_seen": "2026-11-27T10:00:00Z",
		"last_seen": "2026-11-27T10:05:00Z",
		"action": "report",
		"dropped_samples": 0,
		"changed_samples": 0,
		"relabelled_samples": 0,
		"user_agent": "Prometheus/3.1.0",
		"example": {
			"labels": {"__name__": "kube_job_status_failed"},
			"timestamp_ms": 1732968015000,
			"values": ["NaN", 0],
			"samples": ["NaN", "0"]
		}
	}`, string(b))
}
