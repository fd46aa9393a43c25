package mimir

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pushguard/pushguard/proto/compat/cortexpb"
	"github.com/pushguard/pushguard/proto/compat/distributor"
)

const (
	rw1Type = "application/x-protobuf"
	rw2Type = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
)

// TestGRPCUpstreamAnswersAsMimirsHTTPPush sends HTTP pushes Mimir's HTTP
// push refuses through pushguard's gRPC upstream: they must be refused
// with Mimir's status, not taken by the gRPC Push (which honours the
// skip-validation fields from anyone and knows nothing of HTTP) nor
// answered with a status senders retry forever.
func TestGRPCUpstreamAnswersAsMimirsHTTPPush(t *testing.T) {
	m := startMimir(t)
	pg := startPushguard(t, "", "report", "-upstream.grpc-address="+m.grpcAddr)
	at := time.Now().Truncate(time.Second)
	rw1 := func(extra []byte, series ...prompb.TimeSeries) []byte {
		raw, err := (&prompb.WriteRequest{Timeseries: series}).Marshal()
		require.NoError(t, err)
		return snappy.Encode(nil, append(raw, extra...))
	}
	manyLabels := []string{"__name__", "pg_grpc_many_labels"}
	for i := range 40 {
		manyLabels = append(manyLabels, fmt.Sprintf("l%02d", i), "v")
	}
	rw2 := func(symbols ...string) []byte {
		req := toRW2([]prompb.TimeSeries{series(at, []string{"__name__", "pg_grpc_rw2"}, 1)})
		if symbols != nil {
			req.Symbols = symbols
		}
		raw, err := req.Marshal()
		require.NoError(t, err)
		return snappy.Encode(nil, raw)
	}
	for name, tc := range map[string]struct {
		ct   string
		body []byte
		want string
	}{
		"skip_label_validation set by the sender": {
			ct:   rw1Type,
			body: rw1([]byte{0xc0, 0x3e, 0x01}, series(at, []string{"__name__", "pg_grpc_skip", "a-b", "1"}, 1)),
			want: "err-mimir-label-invalid",
		},
		"skip_label_count_validation set by the sender": {
			ct:   rw1Type,
			body: rw1([]byte{0xc8, 0x3e, 0x01}, series(at, manyLabels, 1)),
			want: "err-mimir-max-label-names-per-series",
		},
		"a remote write 2.0 field in a 1.0 request": {
			ct:   rw1Type,
			body: rw1([]byte{0x22, 0x01, 0x78}, series(at, []string{"__name__", "pg_grpc_mixed"}, 1)),
		},
		"a 2.0 request whose symbols do not start with the empty string": {
			ct:   rw2Type,
			body: rw2("x", "__name__", "pg_grpc_rw2"),
		},
		"a 1.0 request sent as 2.0": {
			ct:   rw2Type,
			body: rw1(nil, series(at, []string{"__name__", "pg_grpc_as_rw2"}, 1)),
		},
		"an empty body": {ct: rw1Type, body: []byte{}},
	} {
		t.Run(name, func(t *testing.T) {
			status, body := postBody(t, m.pushURL(), "pg-grpc-up-direct", http.Header{"Content-Type": {tc.ct}}, tc.body)
			require.Equal(t, http.StatusBadRequest, status, "Mimir's own answer: %s", body)
			require.Contains(t, body, tc.want)
			status, body = postBody(t, "http://"+pg.addr+"/api/v1/push", "pg-grpc-up", http.Header{"Content-Type": {tc.ct}}, tc.body)
			require.Equal(t, http.StatusBadRequest, status, body)
			require.Contains(t, body, tc.want)
		})
	}
	require.Empty(t, m.query(t, "pg-grpc-up", `{__name__=~"pg_grpc_.*"}`, at), "nothing refused was stored")
}

// TestGRPCPushGetsMimirsStatus pushes a series Mimir refuses over gRPC,
// straight to Mimir and through pushguard's gRPC upstream: the sender gets
// Mimir's status as it is, code, message and details (Mimir's error cause
// among them).
func TestGRPCPushGetsMimirsStatus(t *testing.T) {
	m := startMimir(t)
	pg := startPushguard(t, "", "report", "-upstream.grpc-address="+m.grpcAddr)
	push := func(addr string) *status.Status {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "x-scope-orgid", "pg-grpc-status"), 30*time.Second)
		defer cancel()
		_, err = distributor.NewDistributorClient(conn).Push(ctx, &cortexpb.WriteRequest{Timeseries: []*cortexpb.TimeSeries{{
			Labels:  []*cortexpb.LabelPair{{Name: "__name__", Value: "pg_grpc_status"}, {Name: "a-b", Value: "1"}},
			Samples: []*cortexpb.Sample{{Value: 1, TimestampMs: time.Now().UnixMilli()}},
		}}})
		require.Error(t, err)
		return status.Convert(err)
	}
	direct, through := push(m.grpcAddr), push(pg.grpcAddr)
	require.Contains(t, direct.Message(), "err-mimir-label-invalid")
	require.Equal(t, direct.Code(), through.Code())
	require.Equal(t, direct.Message(), through.Message())
	require.Equal(t, len(direct.Details()), len(through.Details()))
	require.NotEmpty(t, through.Details(), "Mimir's error details are passed on")
}

// TestLabelActionWithinMimirsLabelLimit: the label action must not turn a
// push Mimir takes into one it refuses. Two entries of a series at Mimir's
// limit of 30 labels (__name__ included) cannot be told apart by one more
// label: pushguard keeps the first, as keep-first would, and the push is
// stored with a 200, where the labelled copy would have made Mimir answer
// 400 and the sender drop the batch.
func TestLabelActionWithinMimirsLabelLimit(t *testing.T) {
	m := startMimir(t)
	pg := startPushguard(t, m.pushURL(), "label")
	at := time.Now().Truncate(time.Second)
	lbls := []string{"__name__", "pg_label_limit"}
	for i := 1; i < 30; i++ {
		lbls = append(lbls, fmt.Sprintf("l%02d", i), "v")
	}
	status, body := push(t, "http://"+pg.addr+"/api/v1/push", "pg-label-limit",
		series(at, lbls, 1), series(at, lbls, 2), series(at, []string{"__name__", "pg_label_limit_other"}, 3))
	require.Equal(t, http.StatusOK, status, body)
	got := m.query(t, "pg-label-limit", `{__name__=~"pg_label_limit.*"}`, at)
	require.Len(t, got, 2, "%v", got)
	require.Equal(t, "3", got[`pg_label_limit_other`])
	offenders := pg.offenders(t, "pg-label-limit")
	require.Len(t, offenders, 1)
	for _, o := range offenders {
		require.Equal(t, "keep-first", o.Action, "%+v", o)
		require.Equal(t, "label", o.RequestedAction, "%+v", o)
	}
}
