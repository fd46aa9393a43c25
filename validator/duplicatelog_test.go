package validator

import (
	"bytes"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// TestDuplicateLog checks the aggregated warnings: one per kind of a
// push, naming its metrics most duplicated first, and no more than the
// rate allows, the rest counted as suppressed.
func TestDuplicateLog(t *testing.T) {
	r := decodeBody(t, marshal(t,
		withSamples(series("__name__", "a", "job", "x"), 1, 1, 1, 2), // within_series
		withSamples(series("__name__", "b", "job", "x"), 1, 1),
		withSamples(series("__name__", "b", "job", "x"), 1, 1), // across_series
		withSamples(series("__name__", "c", "job", "x"), 1, 1),
		withSamples(series("__name__", "c", "job", "x"), 1, 2),
		withSamples(series("__name__", "c", "job", "x"), 1, 3),
	))
	var res Result
	NewInspector(NewIdentity(nil)).Inspect(r, &res)
	require.Len(t, res.Duplicates, 4)

	var buf bytes.Buffer
	reg := prometheus.NewRegistry()
	// A burst of two warnings, refilled once a thousand seconds: the test
	// does not wait for it.
	l := newDuplicateLog(log.NewLogfmtLogger(&buf), 1, false, reg)
	l.limiter = rate.NewLimiter(0.001, 2)
	meta := Meta{Tenant: "t", UserAgent: "ua", RemoteAddr: "10.0.0.1"}
	l.log(r, &res, nil, meta)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2, buf.String())
	require.Contains(t, lines[0], `kind=within_series conflicting=1 identical=0 metrics=a user_agent=ua sender=10.0.0.1`)
	require.Contains(t, lines[1], `kind=across_series conflicting=2 identical=1 metrics=c,b`)

	buf.Reset()
	l.log(r, &res, nil, meta)
	require.Empty(t, buf.String(), "over the rate")
	require.Equal(t, 2.0, testutil.ToFloat64(l.suppressed))

	// At rate 0 nothing is logged, not even a first warning.
	none := newDuplicateLog(log.NewLogfmtLogger(&buf), 0, false, prometheus.NewRegistry())
	none.log(r, &res, nil, meta)
	require.Empty(t, buf.String(), "-validator.warn-log-rate=0")
	require.Equal(t, 2.0, testutil.ToFloat64(none.suppressed))
}
