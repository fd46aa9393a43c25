package validator

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// TestRefusalLog: a refused push is warned of with its reason and sender,
// within the rate; the upstream's failures are left to the receivers.
func TestRefusalLog(t *testing.T) {
	var buf bytes.Buffer
	l := newRefusalLog(log.NewLogfmtLogger(&buf), 1, prometheus.NewRegistry())
	l.limiter = rate.NewLimiter(0.001, 2)
	meta := Meta{Tenant: "team-a", UserAgent: "Prometheus/3.0.0", RemoteAddr: "10.0.0.1"}

	l.log(NewError(ErrIDUpstreamUnavailable, CauseUnavailable, errors.New("connection refused"), "upstream unavailable"), meta)
	require.Empty(t, buf.String(), "warned of by the receiver")
	l.log(NewError(ErrIDBadSnappy, CauseBadData, errors.New("corrupt input"), "decompressing body"), meta)
	l.log(NewError(ErrIDMissingTenant, CauseUnauthorized, nil, "no tenant"), Meta{RemoteAddr: "10.0.0.2"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2, buf.String())
	require.Equal(t, `level=warn msg="refused push" reason=bad-snappy tenant=team-a user_agent=Prometheus/3.0.0 sender=10.0.0.1 err="decompressing body: corrupt input (err-pushguard-bad-snappy)"`, lines[0])
	require.Equal(t, `level=warn msg="refused push" reason=missing-tenant tenant= user_agent= sender=10.0.0.2 err="no tenant (err-pushguard-missing-tenant)"`, lines[1])

	buf.Reset()
	l.log(NewError(ErrIDBadProtobuf, CauseBadData, nil, "x"), meta)
	require.Empty(t, buf.String(), "over the rate")
	require.Equal(t, 1.0, testutil.ToFloat64(l.suppressed))

	none := newRefusalLog(log.NewLogfmtLogger(&buf), 0, prometheus.NewRegistry())
	none.log(NewError(ErrIDBadProtobuf, CauseBadData, nil, "x"), meta)
	require.Empty(t, buf.String(), "-validator.warn-log-rate=0")
}
