package mimir

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
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
