package upstream

import (
	"context"
	"flag"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/grafana/dskit/grpcclient"
	"github.com/grafana/dskit/httpgrpc"
	"github.com/grafana/dskit/services"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pushguard/pushguard/grpcapi/rawproto"
	"github.com/pushguard/pushguard/proto/compat/cortexpb"
)

// DistributorPushMethod is the full gRPC method of Mimir's distributor push.
const DistributorPushMethod = "/distributor.Distributor/Push"

// OrgIDMetadataKey is the gRPC metadata key carrying the tenant, as Mimir
// reads it.
const OrgIDMetadataKey = "x-scope-orgid"

// GRPCConfig configures the gRPC upstream: Mimir's distributor gRPC.
type GRPCConfig struct {
	Address string            `yaml:"grpc_address"`
	Client  grpcclient.Config `yaml:"grpc_client"`
}

// RegisterFlags registers the gRPC upstream flags.
func (cfg *GRPCConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&cfg.Address, "upstream.grpc-address", "", "gRPC address of Mimir's distributor, such as dns:///distributor:9095. When set, pushes received over gRPC are forwarded there with /distributor.Distributor/Push (and so are HTTP pushes when -upstream.url is empty).")
	cfg.Client.RegisterFlagsWithPrefix("upstream.grpc-client", f)
}

// Validate checks the configuration.
func (cfg *GRPCConfig) Validate() error {
	if cfg.Address == "" {
		return nil
	}
	if err := cfg.Client.Validate(); err != nil {
		return fmt.Errorf("invalid -upstream.grpc-client.* configuration: %w", err)
	}
	return nil
}

// GRPC forwards pushes to Mimir's distributor over gRPC. It is a dskit
// service so that its connection is closed once the server has drained.
type GRPC struct {
	services.Service
	cfg     GRPCConfig
	timeout time.Duration
	conn    *grpc.ClientConn
	codec   *rawproto.Codec
	logger  log.Logger
}

// NewGRPC returns a gRPC upstream. The connection is established lazily,
// so a distributor that is not up yet does not stop pushguard starting.
func NewGRPC(cfg GRPCConfig, up Config, logger log.Logger) (*GRPC, error) {
	opts, err := cfg.Client.DialOption(nil, nil, nil)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(cfg.Address, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating gRPC client for %s: %w", cfg.Address, err)
	}
	g := &GRPC{cfg: cfg, timeout: up.Timeout, conn: conn, codec: rawproto.NewCodec(), logger: logger}
	g.Service = services.NewIdleService(nil, func(error) error { return g.conn.Close() })
	return g, nil
}

// Name returns a short name of the upstream for metrics and logs.
func (g *GRPC) Name() string { return "grpc" }

// Push implements Upstream; remote write 2.0 is converted to 1.0. The tenant travels in metadata x-scope-orgid.
// An answer the distributor gave is turned into its HTTP equivalent, so
// both receivers pass it back the same way; no answer at all (refused
// connection, timeout) is an error, which senders retry.
func (g *GRPC) Push(ctx context.Context, req *Request) (*Response, error) {
	if len(req.Body) == 0 && len(req.Protobuf) == 0 {
		// As Mimir's HTTP push answers it: an empty body is no snappy
		// block (a gRPC push of nothing comes as the block of nothing).
		return textResponse(http.StatusBadRequest, "empty body: not a snappy block (err-pushguard-bad-snappy)"), nil
	}
	if IsRW2(req.Header) {
		// Mimir's gRPC Push takes remote write 1.0 only.
		conv, err := req.ToRW1()
		if err != nil {
			return textResponse(http.StatusBadRequest, err.Error()+" (err-pushguard-bad-protobuf)"), nil
		}
		req = conv
	}
	if !isRW1(req.Header.Get("Content-Type")) {
		return textResponse(http.StatusUnsupportedMediaType,
			"the gRPC upstream takes remote write 1.0 only (err-pushguard-unsupported-content-type)"), nil
	}
	body, err := req.DecodedBody()
	if err != nil {
		return textResponse(http.StatusBadRequest, err.Error()+" (err-pushguard-bad-snappy)"), nil
	}
	if req.OverHTTP {
		body = withoutSkipValidation(body)
	}
	if limit := g.cfg.Client.MaxSendMsgSize; limit > 0 && len(body) > limit && g.cfg.Client.GRPCCompression == "" {
		// gRPC would refuse to send it with ResourceExhausted, which is not
		// the sender's to retry. (Compressed, the limit applies to what
		// compression makes of it, and gRPC's refusal is mapped below.)
		return textResponse(http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"the request is %d bytes uncompressed, over -upstream.grpc-client.grpc-max-send-msg-size (%d) (err-pushguard-request-too-large)",
			len(body), limit)), nil
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, OrgIDMetadataKey, req.Tenant)
	opts := append(g.cfg.Client.CallOptions(), grpc.ForceCodecV2(g.codec))
	var resp cortexpb.WriteResponse
	err = g.conn.Invoke(ctx, DistributorPushMethod, rawproto.Bytes(body), &resp, opts...)
	if err == nil {
		return &Response{StatusCode: http.StatusOK, Header: http.Header{}}, nil
	}
	st, _ := status.FromError(err)
	// Mimir wraps its HTTP answer in the gRPC status; prefer it.
	if hr, ok := httpgrpc.HTTPResponseFromError(err); ok {
		r := textResponse(int(hr.Code), string(hr.Body))
		r.GRPCStatus = st
		return r, nil
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		level.Debug(g.logger).Log("msg", "gRPC upstream did not answer", "code", st.Code(), "err", st.Message())
		return nil, fmt.Errorf("forwarding to %s: %w", g.cfg.Address, err)
	}
	r := textResponse(httpStatusOf(st), st.Message())
	r.GRPCStatus = st
	return r, nil
}

// grpcRefusedRequest reports whether st is grpc-go's own refusal of the
// request rather than the distributor's answer, and which: a request the
// server could not unmarshal is Internal ("grpc: error unmarshalling
// request: ..." up to grpc-go 1.83, "grpc: failed to unmarshal the received
// message: ..." since), one over a size limit ResourceExhausted, on the
// server ("grpc: received message larger than max ...", "grpc: (received)
// message after decompression larger than max ...") or on the client
// ("trying to send message larger than max ..."). The distributor's own
// Internal and ResourceExhausted (a rate limit) never say so.
func grpcRefusedRequest(st *status.Status) (tooLarge, undecodable bool) {
	msg := st.Message()
	switch st.Code() {
	case codes.Internal:
		return false, strings.HasPrefix(msg, "grpc: ") && strings.Contains(msg, "unmarshal")
	case codes.ResourceExhausted:
		return strings.HasPrefix(msg, "trying to send message larger than max") ||
			strings.HasPrefix(msg, "grpc: ") && strings.Contains(msg, "larger than max"), false
	}
	return false, false
}

// httpStatusOf maps the status the distributor answered to the HTTP status
// Mimir's HTTP push would have answered. grpc-go's own refusals of the
// request (grpcRefusedRequest) are not for the sender to retry: a request
// that does not unmarshal is 400, one over a size limit 413.
func httpStatusOf(st *status.Status) int {
	switch tooLarge, undecodable := grpcRefusedRequest(st); {
	case undecodable:
		return http.StatusBadRequest
	case tooLarge:
		return http.StatusRequestEntityTooLarge
	}
	switch st.Code() {
	case codes.OK:
		return http.StatusOK
	case codes.AlreadyExists:
		// The HA tracker's "replicas did not match": the push came from a
		// replica that is not the elected one, and its samples were
		// deduplicated away, which Mimir's HTTP push answers 202.
		return http.StatusAccepted
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound, codes.Unimplemented:
		return http.StatusNotFound
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unavailable, codes.Aborted:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// isRW1 reports whether a Content-Type names remote write 1.0 (or nothing,
// which means it).
func isRW1(ct string) bool {
	if ct == "" {
		return true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-protobuf" {
		return false
	}
	p, ok := params["proto"]
	return !ok || p == RW1Message
}

// Fields of Mimir's WriteRequest that turn validation off for the request.
const (
	skipLabelValidationField      = 1000
	skipLabelCountValidationField = 1001
)

// withoutSkipValidation returns the remote write 1.0 request b without its
// skip_label_validation and skip_label_count_validation fields: b itself
// when it has none, as a sender's request has. A b that does not parse is
// returned as it is, for the distributor to refuse.
func withoutSkipValidation(b []byte) []byte {
	var out []byte
	kept := 0 // b[kept:] is not copied to out yet
	for off := 0; off < len(b); {
		start := off
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return b
		}
		off += n
		n = protowire.ConsumeFieldValue(num, typ, b[off:])
		if n < 0 {
			return b
		}
		off += n
		if num == skipLabelValidationField || num == skipLabelCountValidationField {
			out = append(out, b[kept:start]...)
			kept = off
		}
	}
	if kept == 0 {
		return b
	}
	return append(out, b[kept:]...)
}
