package upstream

import (
	"context"
	"flag"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/pushguard/pushguard/proto/compat/cortexpb"
	"github.com/pushguard/pushguard/proto/compat/distributor"
)

func TestWithoutSkipValidation(t *testing.T) {
	series := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{0x0a, 0x00})
	skip := func(num protowire.Number) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), 1)
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for name, tc := range map[string]struct{ in, want []byte }{
		"none":                     {in: cat(series, series), want: cat(series, series)},
		"label validation":         {in: cat(series, skip(1000)), want: series},
		"label count validation":   {in: cat(skip(1001), series), want: series},
		"both, between the series": {in: cat(series, skip(1000), series, skip(1001), series), want: cat(series, series, series)},
		"only them":                {in: cat(skip(1001), skip(1000)), want: nil},
		"source kept":              {in: cat(skip(2), series), want: cat(skip(2), series)},
		"not protobuf":             {in: []byte{0xff}, want: []byte{0xff}},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, withoutSkipValidation(tc.in))
		})
	}
}

func TestHTTPStatusOfGRPCAnswers(t *testing.T) {
	for name, tc := range map[string]struct {
		st   *status.Status
		want int
	}{
		// As grpc-go before 1.84 words it, which Mimir's build may have.
		"request that does not unmarshal": {status.New(codes.Internal, "grpc: error unmarshalling request: proto: bad"), http.StatusBadRequest},
		"other internal error":            {status.New(codes.Internal, "boom"), http.StatusInternalServerError},
		"rate limited":                    {status.New(codes.ResourceExhausted, "ingestion rate limit reached"), http.StatusTooManyRequests},
		"HA replica deduplicated":         {status.New(codes.AlreadyExists, "replicas did not match"), http.StatusAccepted},
		"bad data":                        {status.New(codes.InvalidArgument, "bad"), http.StatusBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, httpStatusOf(tc.st))
		})
	}
}

// TestGRPCPushRefusesWhatItCannotSend: requests the gRPC upstream cannot
// send are answered with statuses senders do not retry, before anything
// is sent (the address is never dialled).
func TestGRPCPushRefusesWhatItCannotSend(t *testing.T) {
	var cfg GRPCConfig
	fs := flag.NewFlagSet("", flag.PanicOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"-upstream.grpc-address=127.0.0.1:1", "-upstream.grpc-client.grpc-max-send-msg-size=64"}))
	g, err := NewGRPC(cfg, Config{Timeout: 1}, log.NewNopLogger())
	require.NoError(t, err)
	t.Cleanup(func() { g.conn.Close() })

	resp, err := g.Push(context.Background(), &Request{Tenant: "t", Header: http.Header{}, OverHTTP: true})
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "an empty body is no snappy block")
	require.Contains(t, string(resp.Body), "err-pushguard-bad-snappy")

	big := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), make([]byte, 100))
	resp, err = g.Push(context.Background(), &Request{Tenant: "t", Header: http.Header{}, Body: snappy.Encode(nil, big)})
	require.NoError(t, err)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, string(resp.Body))
	require.Contains(t, string(resp.Body), "-upstream.grpc-client.grpc-max-send-msg-size")
}

// TestForwardedHeaders: an HTTP upstream gets the headers that carry the
// push and the sender's say on how Mimir takes it, and nothing else.
func TestForwardedHeaders(t *testing.T) {
	in := http.Header{}
	for _, name := range []string{
		"Authorization", "User-Agent",
		"X-Mimir-SkipLabelNameValidation", "X-Mimir-SkipLabelCountValidation",
		"X-Scope-OrgID", "Cookie", "X-Forwarded-For",
	} {
		in.Set(name, "v")
	}
	in.Set("Content-Type", "application/x-protobuf")
	got := ForwardedHeaders(in, false)
	for _, name := range []string{"Authorization", "User-Agent", "X-Mimir-SkipLabelNameValidation", "X-Mimir-SkipLabelCountValidation"} {
		require.Equal(t, "v", got.Get(name), name)
	}
	for _, name := range []string{"X-Scope-OrgID", "Cookie", "X-Forwarded-For"} {
		require.Empty(t, got.Values(name), "%s is not the sender's to pass on (the tenant is set from the resolved one)", name)
	}
}

type okDistributor struct {
	distributor.UnimplementedDistributorServer
}

func (okDistributor) Push(context.Context, *cortexpb.WriteRequest) (*cortexpb.WriteResponse, error) {
	return &cortexpb.WriteResponse{}, nil
}

// TestGRPCPushAnswersOfARealServer sends what gRPC itself refuses to a real
// gRPC server on loopback (the distributor's generated service, taking at
// most 200 bytes) with grpc-go's own words: none is for the sender to
// retry.
func TestGRPCPushAnswersOfARealServer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(200))
	distributor.RegisterDistributorServer(srv, okDistributor{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	upstreamWith := func(args ...string) *GRPC {
		var cfg GRPCConfig
		fs := flag.NewFlagSet("", flag.PanicOnError)
		cfg.RegisterFlags(fs)
		require.NoError(t, fs.Parse(append([]string{"-upstream.grpc-address=" + lis.Addr().String()}, args...)))
		g, err := NewGRPC(cfg, Config{Timeout: 10 * time.Second}, log.NewNopLogger())
		require.NoError(t, err)
		t.Cleanup(func() { g.conn.Close() })
		return g
	}
	// series is a write request of one series with a label of value v.
	series := func(v []byte) []byte {
		b, err := proto.Marshal(&cortexpb.WriteRequest{Timeseries: []*cortexpb.TimeSeries{{
			Labels: []*cortexpb.LabelPair{{Name: "__name__", Value: string(v)}},
		}}})
		require.NoError(t, err)
		return b
	}
	letters := func(n int) []byte { return []byte(strings.Repeat("a", n)) }
	push := func(g *GRPC, protobuf []byte) *Response {
		t.Helper()
		resp, err := g.Push(context.Background(), &Request{Tenant: "t", Header: http.Header{}, Protobuf: protobuf})
		require.NoError(t, err)
		return resp
	}

	plain, gzipped := upstreamWith(), upstreamWith("-upstream.grpc-client.grpc-compression=gzip")
	require.Equal(t, http.StatusOK, push(plain, series(letters(10))).StatusCode)

	for name, tc := range map[string]struct {
		g        *GRPC
		protobuf []byte
		want     int
	}{
		"does not unmarshal":                    {g: plain, protobuf: []byte{0x0a, 0x05, 0x01}, want: http.StatusBadRequest},
		"over the server's limit":               {g: plain, protobuf: series(letters(300)), want: http.StatusRequestEntityTooLarge},
		"over the server's limit once inflated": {g: gzipped, protobuf: series(letters(300)), want: http.StatusRequestEntityTooLarge},
	} {
		t.Run(name, func(t *testing.T) {
			resp := push(tc.g, tc.protobuf)
			require.Equal(t, tc.want, resp.StatusCode, string(resp.Body))
			require.NotNil(t, resp.GRPCStatus, "a gRPC sender gets the status as it came")
		})
	}

	// The client's own limit applies to what compression makes of the
	// request: one that compresses under it is sent, one that does not is
	// refused by gRPC, neither answered by a check of the raw size.
	small := upstreamWith("-upstream.grpc-client.grpc-max-send-msg-size=60", "-upstream.grpc-client.grpc-compression=gzip")
	require.Equal(t, http.StatusOK, push(small, series(letters(150))).StatusCode, "150 bytes of one letter gzip to under 60")
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 150)
	for i := range noise {
		noise[i] = 'a' + byte(rng.IntN(26)) // valid UTF-8 for the string field
	}
	resp := push(small, series(noise))
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, string(resp.Body))
	require.Contains(t, string(resp.Body), "trying to send message larger than max")
}
