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

// withInspectHook makes inspection run hook, for the length of the test.
func withInspectHook(t *testing.T, hook func(*Request)) {
	t.Helper()
	testHookInspect = hook
	t.Cleanup(func() { testHookInspect = nil })
}

func failuresMetric(tenant string, n int) string {
	return `
# HELP pushguard_inspection_failures_total Pushes whose inspection or patching failed inside pushguard (a bug, never bad input); with -validator.fail-open they were forwarded unchanged.
# TYPE pushguard_inspection_failures_total counter
pushguard_inspection_failures_total{tenant="` + tenant + `"} ` + string(rune('0'+n)) + "\n"
}

func TestFailOpen(t *testing.T) {
	body := marshal(t,
		withSamples(series("__name__", "m", "job", "a"), 1, 1),
		withSamples(series("__name__", "m", "job", "a"), 1, 2, 2, 2),
	)
	for _, tc := range []struct {
		name string
		hook func(*Request)
		// The dry run inspects but leaves encoding to its caller.
		dryRunFails bool
	}{
		// A bug met while inspecting.
		{"panic while inspecting", func(*Request) { panic("inspector bug") }, true},
		// A bug met while patching: the raw bytes of the series that loses
		// its duplicate point far past the body, and encoding the patched
		// request reads them.
		{"panic while patching", func(r *Request) { r.Series[len(r.Series)-1].Raw.End = uint32(cap(r.Buf) + 1<<20) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withInspectHook(t, tc.hook)
			reg := prometheus.NewPedanticRegistry()
			cfg := testConfig(ActionKeepFirst)
			cfg.Limits.FailOpen = true
			v, err := New(cfg, log.NewNopLogger(), reg)
			require.NoError(t, err)
			meta := Meta{Tenant: "team-a"}

			c, err := v.Check(meta, RW1, body)
			require.NoError(t, err, "failing open forwards the push")
			require.True(t, c.FailedOpen)
			require.False(t, c.Changed)
			got := c.Body(body)
			require.Same(t, &body[0], &got[0], "the sender's own bytes are forwarded")
			v.Record(c, meta)
			c.Release()
			offs, _ := v.Store().List("team-a", report.Filter{})
			require.Empty(t, offs, "nothing of a failed inspection is recorded")
			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(failuresMetric("team-a", 1)), "pushguard_inspection_failures_total"))

			// Over gRPC the uncompressed request is forwarded as it came.
			r := GetRequest()
			r.Buf = append(r.Buf[:0], marshalRaw(t, unmarshal(t, body).Timeseries...)...)
			want := append([]byte(nil), r.Buf...)
			c, err = v.CheckDecoded(meta, r)
			require.NoError(t, err)
			require.True(t, c.FailedOpen)
			require.Equal(t, want, c.Protobuf())
			c.Release()

			// The dry run has nothing to forward: it is an internal error.
			if tc.dryRunFails {
				r = GetRequest()
				r.Buf = append(r.Buf[:0], want...)
				_, err = v.DryRun("team-a", r, ActionKeepFirst)
				require.Equal(t, ErrIDInspectionFailed, IDOf(err))
			}
		})
	}
}

func TestFailClosed(t *testing.T) {
	withInspectHook(t, func(*Request) { panic("inspector bug") })
	reg := prometheus.NewPedanticRegistry()
	cfg := testConfig(ActionReport)
	cfg.Limits.FailOpen = false
	v, err := New(cfg, log.NewNopLogger(), reg)
	require.NoError(t, err)
	_, err = v.Check(Meta{Tenant: "t"}, RW1, marshal(t, withSamples(series("__name__", "m"), 1, 1)))
	require.Error(t, err)
	require.Equal(t, ErrIDInspectionFailed, IDOf(err))
	require.Equal(t, CauseInternal, CauseOf(err), "an internal error is a 500, which the sender retries")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(failuresMetric("t", 1)), "pushguard_inspection_failures_total"))
}

func TestBadInputIsNeverFailedOpen(t *testing.T) {
	withInspectHook(t, func(*Request) { panic("not reached") })
	cfg := testConfig(ActionReport)
	cfg.Limits.FailOpen = true
	v, err := New(cfg, log.NewNopLogger(), prometheus.NewRegistry())
	require.NoError(t, err)
	_, err = v.Check(Meta{Tenant: "t"}, RW1, snappy.Encode(nil, []byte{0x0a, 0xff}))
	require.Equal(t, ErrIDBadProtobuf, IDOf(err), "bad input is the sender's to hear of, not forwarded")
}
