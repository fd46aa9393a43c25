package validator

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/validator/report"
)

func manyLabels(n int) []string {
	lbls := []string{"__name__", "m"}
	for i := 0; i < n-1; i++ {
		lbls = append(lbls, fmt.Sprintf("l%05d", i), "v")
	}
	return lbls
}

func TestDecodeLimits(t *testing.T) {
	three := []prompb.TimeSeries{
		withSamples(series("__name__", "a"), 1, 1),
		withSamples(series("__name__", "b"), 1, 1),
		withSamples(series("__name__", "c"), 1, 1),
	}
	rw2Three := []rw2Series{{lbls: []string{"__name__", "a"}}, {lbls: []string{"__name__", "b"}}, {lbls: []string{"__name__", "c"}}}
	for _, tc := range []struct {
		name               string
		rw2                bool
		buf                []byte
		maxSeries, maxLbls int
		id                 ErrorID
	}{
		{name: "rw1 series at the limit", buf: marshalRaw(t, three...), maxSeries: 3},
		{name: "rw1 series over the limit", buf: marshalRaw(t, three...), maxSeries: 2, id: ErrIDMaxSeriesPerRequest},
		{name: "rw1 labels at the limit", buf: marshalRaw(t, series(manyLabels(10)...)), maxLbls: 10},
		{name: "rw1 labels over the limit", buf: marshalRaw(t, series(manyLabels(11)...)), maxLbls: 10, id: ErrIDMaxLabelNamesPerSeries},
		{name: "rw1 no limits", buf: marshalRaw(t, series(manyLabels(5000)...))},
		{name: "rw2 series at the limit", rw2: true, buf: marshalRW2(t, rw2Three...), maxSeries: 3},
		{name: "rw2 series over the limit", rw2: true, buf: marshalRW2(t, rw2Three...), maxSeries: 1, id: ErrIDMaxSeriesPerRequest},
		{name: "rw2 labels over the limit", rw2: true, buf: marshalRW2(t, rw2Series{lbls: manyLabels(11)}), maxLbls: 10, id: ErrIDMaxLabelNamesPerSeries},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Request{Buf: tc.buf}
			r.SetLimits(tc.maxSeries, tc.maxLbls)
			decode := DecodeRW1
			if tc.rw2 {
				decode = DecodeRW2
			}
			err := decode(r)
			if tc.id == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.id, IDOf(err), err.Error())
			require.Contains(t, err.Error(), "(err-pushguard-"+string(tc.id)+")")
		})
	}
}

func TestLimitErrorsMapToCauses(t *testing.T) {
	r := &Request{Buf: marshalRaw(t, series("__name__", "a"), series("__name__", "b"))}
	r.SetLimits(1, 0)
	require.Equal(t, CauseTooLarge, CauseOf(DecodeRW1(r)), "too many series is 413, like a body over the size limit")
	r = &Request{Buf: marshalRaw(t, series(manyLabels(3)...))}
	r.SetLimits(0, 2)
	require.Equal(t, CauseBadData, CauseOf(DecodeRW1(r)))
}

func TestTruncate(t *testing.T) {
	require.Equal(t, "short", truncate("short", 10))
	require.Equal(t, "exactly10!", truncate("exactly10!", 10))
	require.Equal(t, "abcde…", truncate("abcdefgh", 5))
	require.Equal(t, "unlimited", truncate("unlimited", 0))
	// "é" is two bytes: a cut inside it backs off to the rune start.
	got := truncate("aé", 2)
	require.Equal(t, "a…", got)
	require.True(t, utf8.ValidString(got))
}

func TestReportTruncatesLongLabels(t *testing.T) {
	cfg := testConfig(ActionReport)
	cfg.Limits.MaxLabelNameLength = 16
	cfg.Limits.MaxLabelValueLength = 32
	v, err := New(cfg, log.NewNopLogger(), prometheus.NewRegistry())
	require.NoError(t, err)
	longName, longValue := strings.Repeat("n", 100), strings.Repeat("v", 5000)
	lbls := []string{"__name__", "m", "job", longValue, longName, "x"}
	body := marshal(t, withSamples(series(lbls...), 1, 1), withSamples(series(lbls...), 1, 2))
	meta := Meta{Tenant: "t", Time: time.Unix(1, 0)}
	c, err := v.Check(meta, RW1, body)
	require.NoError(t, err)
	defer c.Release()
	require.Same(t, &body[0], &c.Body(body)[0], "long labels are forwarded untouched")
	v.Record(c, meta)

	offs, _ := v.Store().List("t", report.Filter{})
	require.Len(t, offs, 1)
	o := offs[0]
	require.Equal(t, strings.Repeat("v", 32)+"…", o.Origin["job"])
	require.Equal(t, strings.Repeat("v", 32)+"…", o.Example.Labels["job"])
	require.Equal(t, "x", o.Example.Labels[strings.Repeat("n", 16)+"…"])
	require.NotContains(t, o.Example.Labels, longName)
}

func TestAdmission(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a := NewAdmission(2, reg)
	require.NoError(t, a.Admit())
	require.NoError(t, a.Admit())
	err := a.Admit()
	require.Equal(t, ErrIDTooManyInflightPushes, IDOf(err))
	require.Equal(t, CauseUnavailable, CauseOf(err))
	a.Done()
	require.NoError(t, a.Admit(), "a freed place is available again")

	a.Drain()
	require.True(t, a.Draining())
	err = a.Admit()
	require.Equal(t, ErrIDShuttingDown, IDOf(err))
	require.Equal(t, CauseUnavailable, CauseOf(err), "refusals during shutdown are retryable")
	a.Done()
	a.Done()
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP pushguard_inflight_push_requests Pushes being handled right now, over HTTP and gRPC.
# TYPE pushguard_inflight_push_requests gauge
pushguard_inflight_push_requests 0
# HELP pushguard_throttled_push_requests_total Pushes refused with a retryable answer before being read, by reason: too many in flight, or shutting down.
# TYPE pushguard_throttled_push_requests_total counter
pushguard_throttled_push_requests_total{reason="shutting-down"} 1
pushguard_throttled_push_requests_total{reason="too-many-inflight-pushes"} 1
`)))

	unlimited := NewAdmission(0, prometheus.NewRegistry())
	for i := 0; i < 100; i++ {
		require.NoError(t, unlimited.Admit())
	}
}

func TestEmptyBodyIsAnEmptyRequest(t *testing.T) {
	v, err := New(testConfig(ActionKeepFirst), log.NewNopLogger(), prometheus.NewRegistry())
	require.NoError(t, err)
	for _, body := range [][]byte{{}, {0x00}} { // no bytes; snappy of nothing
		c, err := v.Check(Meta{Tenant: "t"}, RW1, body)
		require.NoError(t, err)
		require.False(t, c.Changed)
		require.Zero(t, c.Samples())
		require.Equal(t, body, c.Body(body))
		c.Release()
	}
}
