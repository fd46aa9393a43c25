package mimir

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/stretchr/testify/require"
)

// toRW2 builds the remote write 2.0 request of series, as Prometheus
// does: one symbol table, then the series referring to it.
func toRW2(series []prompb.TimeSeries) *writev2.Request {
	st := writev2.NewSymbolTable()
	req := &writev2.Request{}
	for _, s := range series {
		b := labels.NewScratchBuilder(len(s.Labels))
		for _, l := range s.Labels {
			b.Add(l.Name, l.Value)
		}
		b.Sort()
		ts := writev2.TimeSeries{LabelsRefs: st.SymbolizeLabels(b.Labels(), nil)}
		for _, smp := range s.Samples {
			ts.Samples = append(ts.Samples, writev2.Sample{Value: smp.Value, Timestamp: smp.Timestamp})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	req.Symbols = st.Symbols()
	return req
}

// TestRW2ThroughPushguardRepairs sends the within-request conflicts in
// remote write 2.0 with Prometheus' own client, through pushguard into
// Mimir: every patched request must be one Mimir decodes (the label
// action adds symbols, which Mimir needs before the series using them),
// and Mimir must store what the action promises.
func TestRW2ThroughPushguardRepairs(t *testing.T) {
	m := startMimir(t)
	for _, tc := range []struct {
		action string
		stored map[string]string
	}{
		{action: "keep-first", stored: map[string]string{upSeries: "1", ksmSeries: "1", relabelSeries: "10", cadvisorSerie: "100000", ruleSeries: "5"}},
		{action: "keep-last", stored: map[string]string{upSeries: "1", ksmSeries: "0", relabelSeries: "30", cadvisorSerie: "50000", ruleSeries: "5"}},
		{action: "sum", stored: map[string]string{upSeries: "1", ksmSeries: "1", relabelSeries: "60", cadvisorSerie: "150000", ruleSeries: "5"}},
		{action: "label", stored: map[string]string{
			upSeries:  "1",
			ksmSeries: "1",
			`kube_job_status_failed{duplicate_index="1", instance="10.0.0.7:8080", job="kube-state-metrics", job_name="renovate-28883520", namespace="renovate", reason="BackoffLimitExceeded"}`: "0",
			relabelSeries: "10",
			`http_requests_total{code="200", duplicate_index="1", job="api", namespace="shop"}`: "20",
			`http_requests_total{code="200", duplicate_index="2", job="api", namespace="shop"}`: "30",
			cadvisorSerie: "100000",
			`container_spec_cpu_period{duplicate_index="1", id="/kubepods/burstable/pod1", instance="node-1", job="cadvisor"}`: "50000",
			ruleSeries: "5",
		}},
	} {
		t.Run(tc.action, func(t *testing.T) {
			pg := startPushguard(t, m.pushURL(), tc.action, "-upstream.remote-write-version=2")
			u, err := url.Parse("http://" + pg.addr + "/api/v1/push")
			require.NoError(t, err)
			tenant := "pg-rw2-" + tc.action
			c, err := remote.NewWriteClient("mimir-rw2", &remote.ClientConfig{
				URL:              &config_util.URL{URL: u},
				Timeout:          model.Duration(30 * time.Second),
				HTTPClientConfig: config_util.DefaultHTTPClientConfig,
				Headers:          map[string]string{"X-Scope-OrgID": tenant},
				WriteProtoMsg:    remoteapi.WriteV2MessageType,
			})
			require.NoError(t, err)
			at := time.Now().Truncate(time.Second)
			raw, err := toRW2(firstRequest(at)).Marshal()
			require.NoError(t, err)
			stats, err := c.Store(context.Background(), snappy.Encode(nil, raw), 0)
			require.NoError(t, err)
			require.True(t, stats.Confirmed, "Mimir answers 2.0's written counts")
			require.Equal(t, 9, stats.Samples, "every sample counts as written, those removed on purpose too")
			require.Equal(t, tc.stored, m.query(t, tenant, allMetrics, at))
			rep := pg.offenders(t, tenant)
			require.Equal(t, tc.action, rep["http_requests_total/across_series"].Action)
		})
	}
}
