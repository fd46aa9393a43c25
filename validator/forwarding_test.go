package validator

import (
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/validator/report"
)

// TestCheckForwarding checks when a push may go upstream while it is
// inspected: only when the tenant's actions can do nothing but report, and
// then as soon as it decoded, before inspection starts.
func TestCheckForwarding(t *testing.T) {
	body := marshal(t,
		withSamples(series("__name__", "m", "job", "a"), 1, 1),
		withSamples(series("__name__", "m", "job", "a"), 1, 2),
	)
	for _, tc := range []struct {
		name    string
		action  Action
		rules   []RuleConfig
		forward bool
	}{
		{"report", ActionReport, nil, true},
		{"report, report rules", ActionReport, []RuleConfig{{Match: `{job="a"}`, Action: "report"}}, true},
		{"keep-first", ActionKeepFirst, nil, false},
		{"report, a rule that patches", ActionReport, []RuleConfig{{Match: `{job="other"}`, Action: "keep-last"}}, false},
		{"reject", ActionReject, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(tc.action)
			cfg.Rules = tc.rules
			v, err := New(cfg, log.NewNopLogger(), prometheus.NewRegistry())
			require.NoError(t, err)
			forwarded, inspected := 0, 0
			withInspectHook(t, func(*Request) {
				inspected++
				require.Equal(t, tc.forward, forwarded == 1, "forwarding had to start before inspection")
			})
			meta := Meta{Tenant: "team-a"}

			c, err := v.CheckForwarding(meta, RW1, body, func() { forwarded++ })
			if tc.action == ActionReject {
				require.Error(t, err)
				require.Zero(t, forwarded)
				return
			}
			require.NoError(t, err)
			require.Equal(t, 1, inspected)
			require.Equal(t, tc.forward, forwarded == 1)
			require.LessOrEqual(t, forwarded, 1)
			require.Len(t, c.Result.Duplicates, 1, "the push is inspected all the same")
			require.Equal(t, tc.action == ActionKeepFirst, c.Changed)
			v.Settle(c, meta, 200)
			c.Release()
			offs, _ := v.Store().List("team-a", report.Filter{})
			require.Len(t, offs, 1)

			// The same over gRPC.
			forwarded, inspected = 0, 0
			r := GetRequest()
			r.Buf = append(r.Buf[:0], marshalRaw(t, unmarshal(t, body).Timeseries...)...)
			c, err = v.CheckDecodedForwarding(meta, r, func() { forwarded++ })
			require.NoError(t, err)
			require.Equal(t, tc.forward, forwarded == 1)
			c.Release()
		})
	}

	t.Run("bad input is refused before anything is forwarded", func(t *testing.T) {
		v, _ := newTestValidator(t)
		forwarded := false
		_, err := v.CheckForwarding(Meta{Tenant: "team-a"}, RW1, []byte("not snappy"), func() { forwarded = true })
		require.Error(t, err)
		_, err = v.CheckForwarding(Meta{Tenant: "team-a"}, RW1, snappy.Encode(nil, []byte{0x0a, 0x05, 0x0a}), func() { forwarded = true })
		require.Error(t, err)
		require.Equal(t, ErrIDBadProtobuf, IDOf(err))
		require.False(t, forwarded)
	})

	t.Run("a failure after forwarding started fails open", func(t *testing.T) {
		withInspectHook(t, func(*Request) { panic("inspector bug") })
		reg := prometheus.NewPedanticRegistry()
		cfg := testConfig(ActionReport)
		cfg.Limits.FailOpen = false
		v, err := New(cfg, log.NewNopLogger(), reg)
		require.NoError(t, err)
		forwarded := false
		c, err := v.CheckForwarding(Meta{Tenant: "team-a"}, RW1, body, func() { forwarded = true })
		require.NoError(t, err, "the push is on its way: the sender must hear the upstream's answer")
		require.True(t, forwarded)
		require.True(t, c.FailedOpen)
		c.Release()
		require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(failuresMetric("team-a", 1)), "pushguard_inspection_failures_total"))

		// Without early forwarding the same failure is an error.
		_, err = v.Check(Meta{Tenant: "team-a"}, RW1, body)
		require.Equal(t, ErrIDInspectionFailed, IDOf(err))
	})
}

// Body is snappy and Protobuf plain protobuf, whichever check encoded the
// patched request: HTTP's (Check, snappy) or gRPC's (CheckDecoded, protobuf).
func TestCheckedBodyAndProtobuf(t *testing.T) {
	body := marshal(t,
		withSamples(series("__name__", "m", "job", "a"), 1, 1),
		withSamples(series("__name__", "m", "job", "a"), 1, 2),
		withSamples(series("__name__", "m", "job", "b"), 1, 3),
	)
	raw, err := snappy.Decode(nil, body)
	require.NoError(t, err)
	v, err := New(testConfig(ActionKeepFirst), log.NewNopLogger(), prometheus.NewRegistry())
	require.NoError(t, err)
	meta := Meta{Tenant: "team-a"}
	check := map[string]func() (*Checked, error){
		"http": func() (*Checked, error) { return v.Check(meta, RW1, body) },
		"grpc": func() (*Checked, error) {
			r := GetRequest()
			r.Buf = append(r.Buf[:0], raw...)
			return v.CheckDecoded(meta, r)
		},
	}
	for name, f := range check {
		t.Run(name, func(t *testing.T) {
			for _, first := range []string{"body", "protobuf"} {
				c, err := f()
				require.NoError(t, err)
				require.True(t, c.Changed)
				var pb, snap []byte
				if first == "body" {
					snap = append([]byte(nil), c.Body(body)...)
					pb = append([]byte(nil), c.Protobuf()...)
				} else {
					pb = append([]byte(nil), c.Protobuf()...)
					snap = append([]byte(nil), c.Body(body)...)
				}
				got, err := snappy.Decode(nil, snap)
				require.NoError(t, err, "Body is snappy")
				require.Equal(t, pb, got, "Body decompresses to Protobuf")
				wr := unmarshal(t, snap)
				require.Len(t, wr.Timeseries, 2, "the patched request, one series dropped")
				c.Release()
			}
		})
	}
}
