package validator

import (
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/validator/report"
)

func testConfig(action Action) Config {
	return Config{
		Action:                string(action),
		OriginLabels:          DefaultOriginLabels,
		MaxOffendersPerTenant: 10,
		MaxRequestBytes:       1 << 20,
	}
}

func TestValidatorCheckAndRecord(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	v, err := New(testConfig(ActionKeepFirst), log.NewNopLogger(), reg)
	require.NoError(t, err)
	body := marshal(t,
		withSamples(series("__name__", "m", "job", "a"), 1, 1, 1, 1),
		withSamples(series("__name__", "m", "job", "a"), 1, 2),
		withSamples(series("__name__", "other"), 1, 2),
	)
	meta := Meta{Tenant: "t", UserAgent: "ua", Time: time.Unix(100, 0)}
	c, err := v.Check(meta, RW1, body)
	require.NoError(t, err)
	defer c.Release()
	require.True(t, c.Changed)
	require.Equal(t, 4, c.Samples())

	patched := unmarshal(t, c.Body(body))
	require.Len(t, patched.Timeseries, 2, "the series left without samples is removed")
	require.Len(t, patched.Timeseries[0].Samples, 1)

	v.Record(c, meta)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP pushguard_duplicate_samples_total Samples that repeat the series and timestamp of an earlier sample, by kind, whether the value conflicts and the action applied.
# TYPE pushguard_duplicate_samples_total counter
pushguard_duplicate_samples_total{action="keep-first",conflict="false",kind="within_series",tenant="t"} 1
pushguard_duplicate_samples_total{action="keep-first",conflict="true",kind="across_series",tenant="t"} 1
# HELP pushguard_dropped_samples_total Duplicate samples removed from pushes before forwarding, by action.
# TYPE pushguard_dropped_samples_total counter
pushguard_dropped_samples_total{action="keep-first",tenant="t"} 2
# HELP pushguard_received_samples_total Float samples and native histograms received in pushes.
# TYPE pushguard_received_samples_total counter
pushguard_received_samples_total{tenant="t"} 4
`), "pushguard_duplicate_samples_total", "pushguard_dropped_samples_total", "pushguard_received_samples_total"))

	offs, _ := v.Store().List("t", report.Filter{})
	require.Len(t, offs, 2)
}

func TestValidatorUnchangedBodyIsTheOriginal(t *testing.T) {
	v, err := New(testConfig(ActionReport), log.NewNopLogger(), prometheus.NewRegistry())
	require.NoError(t, err)
	body := marshal(t, withSamples(series("__name__", "m"), 1, 1), withSamples(series("__name__", "m"), 1, 2))
	c, err := v.Check(Meta{Tenant: "t"}, RW1, body)
	require.NoError(t, err)
	defer c.Release()
	require.False(t, c.Changed)
	got := c.Body(body)
	require.Same(t, &body[0], &got[0], "an unpatched request is forwarded as the sender's own bytes")
}

func TestConfigValidate(t *testing.T) {
	cfg := testConfig("nope")
	require.ErrorContains(t, cfg.Validate(), "unknown action")
	cfg = testConfig(ActionReport)
	cfg.MaxRequestBytes = 0
	require.Error(t, cfg.Validate())
	// The label action's label left out of identity would separate nothing.
	cfg = testConfig(ActionReport)
	cfg.IgnoreLabels = []string{"__replica__", "duplicate_index"}
	require.ErrorContains(t, cfg.Validate(), `-validator.disambiguation-label "duplicate_index" is in -validator.ignore-labels`)
	cfg.DisambiguationLabel = "copy"
	require.NoError(t, cfg.Validate())
	cfg.IgnoreLabels = []string{"__name__"}
	require.ErrorContains(t, cfg.Validate(), "-validator.ignore-labels must not hold __name__")
	for _, n := range []int{0, -1} {
		cfg = testConfig(ActionReport)
		cfg.MaxOffendersPerTenant = n
		require.ErrorContains(t, cfg.Validate(), "-validator.max-offenders-per-tenant must be at least 1")
	}
}

func TestRetryable(t *testing.T) {
	for status, want := range map[int]bool{200: false, 204: false, 400: false, 413: false, 429: true, 500: true, 503: true} {
		require.Equal(t, want, Retryable(status), "%d", status)
	}
}

func TestCheckKindFilter(t *testing.T) {
	for _, ok := range append(KindNames(), "") {
		require.NoError(t, CheckKindFilter(ok))
	}
	err := CheckKindFilter("across_tenants")
	require.Equal(t, ErrIDBadQuery, IDOf(err))
	require.Equal(t, CauseBadData, CauseOf(err))
	require.Contains(t, err.Error(), "within_series, across_series, across_requests")
}

// TestDecodedRequestsHeldToTheSizeLimit: a request that arrives already
// decompressed (gRPC) is held to -validator.max-request-bytes as well.
func TestDecodedRequestsHeldToTheSizeLimit(t *testing.T) {
	cfg := testConfig(ActionReport)
	cfg.MaxRequestBytes = 64
	v, err := New(cfg, log.NewNopLogger(), prometheus.NewRegistry())
	require.NoError(t, err)
	big := marshalRaw(t, withSamples(series("__name__", "m", "pod", strings.Repeat("p", 100)), 1, 1))

	_, err = v.CheckDecoded(Meta{Tenant: "t"}, &Request{Buf: big})
	require.Equal(t, ErrIDRequestTooLarge, IDOf(err))
	_, err = v.DryRun("t", &Request{Buf: big}, "")
	require.Equal(t, ErrIDRequestTooLarge, IDOf(err))

	c, err := v.CheckDecoded(Meta{Tenant: "t"}, &Request{Buf: marshalRaw(t, withSamples(series("__name__", "m"), 1, 1))})
	require.NoError(t, err, "a request under the limit passes")
	c.Release()
}
