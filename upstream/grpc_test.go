package upstream

import (
	"context"
	"flag"
	"net/http"
	"testing"

	"github.com/go-kit/log"
	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
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
		"request that does not unmarshal": {status.New(codes.Internal, "grpc: error unmarshalling request: proto: bad"), http.StatusBadRequest},
		"other internal error":            {status.New(codes.Internal, "boom"), http.StatusInternalServerError},
		"over the server's size limit":    {status.New(codes.ResourceExhausted, "grpc: received message larger than max (5 vs. 4)"), http.StatusRequestEntityTooLarge},
		"over the client's size limit":    {status.New(codes.ResourceExhausted, "grpc: trying to send message larger than max (5 vs. 4)"), http.StatusRequestEntityTooLarge},
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
