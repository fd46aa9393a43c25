package mimir

import (
	"context"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/tests/e2e"
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
		{action: "keep-first", stored: keptFirst},
		{action: "keep-last", stored: keptLast},
		{action: "sum", stored: map[string]string{upSeries: "1", ksmSeries: "1", relabelSeries: "60", cadvisorSerie: "150000", ruleSeries: "5"}},
		{action: "label", stored: labelled},
	} {
		t.Run(tc.action, func(t *testing.T) {
			pg := startPushguard(t, m.pushURL(), tc.action, "-upstream.remote-write-version=2")
			tenant := "pg-rw2-" + tc.action
			c := e2e.WriteClient(t, "http://"+pg.addr+"/api/v1/push", tenant, remoteapi.WriteV2MessageType)
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
