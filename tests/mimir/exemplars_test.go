package mimir

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/pushguard/pushguard/tests/e2e"
)

// TestExemplarsOfARepairedSeries: a TimeSeries entry whose only sample
// keep-first drops still takes its exemplar into Mimir, which stores it as
// it stores the exemplar-only series Prometheus sends.
func TestExemplarsOfARepairedSeries(t *testing.T) {
	m := startMimir(t)
	pg := startPushguard(t, m.pushURL(), "keep-first")
	at := time.Now().Truncate(time.Second)
	lbls := []prompb.Label{{Name: "__name__", Value: "http_request_duration_seconds_sum"}, {Name: "job", Value: "api"}}
	first := prompb.TimeSeries{Labels: lbls, Samples: []prompb.Sample{{Value: 1, Timestamp: at.UnixMilli()}}}
	second := prompb.TimeSeries{
		Labels:  lbls,
		Samples: []prompb.Sample{{Value: 2, Timestamp: at.UnixMilli()}},
		Exemplars: []prompb.Exemplar{{
			Labels: []prompb.Label{{Name: "trace_id", Value: "4bf92f3577b34da6"}}, Value: 0.25, Timestamp: at.UnixMilli() - 1,
		}},
	}
	const tenant = "pg-exemplars"
	status, body := push(t, "http://"+pg.addr+"/api/v1/push", tenant, first, second)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, map[string]string{`http_request_duration_seconds_sum{job="api"}`: "1"},
		m.query(t, tenant, "http_request_duration_seconds_sum", at), "keep-first kept the first value")
	requireExemplar(t, m, tenant, at)

	// The same in remote write 2.0, sent on as 2.0: Mimir takes the
	// series of an exemplar only, and says it wrote it.
	pg2 := startPushguard(t, m.pushURL(), "keep-first", "-upstream.remote-write-version=2")
	const tenant2 = "pg-exemplars-rw2"
	req := toRW2([]prompb.TimeSeries{first, second})
	req.Timeseries[1].Exemplars = []writev2.Exemplar{{
		LabelsRefs: []uint32{uint32(len(req.Symbols)), uint32(len(req.Symbols) + 1)}, Value: 0.25, Timestamp: at.UnixMilli() - 1,
	}}
	req.Symbols = append(req.Symbols, "trace_id", "4bf92f3577b34da6")
	raw, err := req.Marshal()
	require.NoError(t, err)
	stats, err := e2e.WriteClient(t, "http://"+pg2.addr+"/api/v1/push", tenant2, remoteapi.WriteV2MessageType).
		Store(context.Background(), snappy.Encode(nil, raw), 0)
	require.NoError(t, err)
	require.True(t, stats.Confirmed)
	require.Equal(t, 1, stats.Exemplars)
	requireExemplar(t, m, tenant2, at)
}

// requireExemplar waits for the test's exemplar in Mimir.
func requireExemplar(t *testing.T, m *mimir, tenant string, at time.Time) {
	t.Helper()

	q := url.Values{"query": {"http_request_duration_seconds_sum"}, "start": {fmt.Sprint(at.Add(-time.Minute).Unix())}, "end": {fmt.Sprint(at.Add(time.Minute).Unix())}}
	req, err := http.NewRequest(http.MethodGet, "http://"+m.addr+"/prometheus/api/v1/query_exemplars?"+q.Encode(), nil)
	require.NoError(t, err)
	req.Header.Set("X-Scope-OrgID", tenant)
	var got struct {
		Data []struct {
			Exemplars []struct {
				Labels map[string]string `json:"labels"`
				Value  string            `json:"value"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	require.Eventually(t, func() bool {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &got) != nil {
			t.Logf("query_exemplars: %d %s", resp.StatusCode, b)
			return false
		}
		return len(got.Data) == 1 && len(got.Data[0].Exemplars) == 1
	}, 10*time.Second, 200*time.Millisecond, "the exemplar reached Mimir")
	require.Equal(t, "4bf92f3577b34da6", got.Data[0].Exemplars[0].Labels["trace_id"])
	require.Equal(t, "0.25", got.Data[0].Exemplars[0].Value)
}
