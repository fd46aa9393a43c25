package tests

import (
	"flag"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

var updateTestdata = flag.Bool("update-testdata", false, "rewrite the example request files in testdata/")

const exampleFile = "testdata/ksm-duplicates.rw1.snappy"

// exampleRequest is the request behind the README's curl example:
// kube-state-metrics reporting a retried Job twice, plus a healthy series.
func exampleRequest() prompb.WriteRequest {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	return prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		ksmJobFailed(1, at),
		ts(1, at, "__name__", "up", "instance", "10.0.0.7:8080", "job", "kube-state-metrics"),
		ksmJobFailed(0, at),
	}}
}

// TestREADMECurlExample pushes the README's example file the way curl does
// and checks that the README's promise holds.
func TestREADMECurlExample(t *testing.T) {
	wr := exampleRequest()
	raw, err := wr.Marshal()
	require.NoError(t, err)
	if *updateTestdata {
		require.NoError(t, os.WriteFile(exampleFile, snappyEncode(raw), 0o644))
	}
	body, err := os.ReadFile(exampleFile)
	require.NoError(t, err)
	require.Equal(t, snappyEncode(raw), body, "%s is stale: go test ./tests -run TestREADMECurlExample -update-testdata", exampleFile)

	inst := startPushguard(t)
	status, msg := inst.rawPush(t, body, map[string]string{
		"Content-Type":     "application/x-protobuf",
		"Content-Encoding": "snappy",
		"X-Scope-OrgID":    "demo",
		"User-Agent":       "curl/8.5.0",
	})
	require.Equal(t, http.StatusOK, status, msg)
	rep := inst.offenders(t, "demo", "")
	require.Len(t, rep.Offenders, 1)
	o := rep.Offenders[0]
	require.Equal(t, "kube_job_status_failed", o.Metric)
	require.Equal(t, "across_series", o.Kind)
	require.Equal(t, "curl/8.5.0", o.UserAgent)
	require.EqualValues(t, 1, o.ConflictingSamples)
}
