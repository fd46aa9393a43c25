package grpcapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"google.golang.org/grpc"

	"github.com/pushguard/pushguard/proto/compat/cortexpb"
	"github.com/pushguard/pushguard/proto/compat/distributor"
	"github.com/pushguard/pushguard/upstream"
	"github.com/pushguard/pushguard/validator"
)

// rawWriteRequest receives a Push's wire bytes straight into a pooled
// validator.Request (see rawproto), which the validator parses without
// copying.
type rawWriteRequest struct {
	r    *validator.Request
	size int
}

// String is what the gRPC request log shows of a push. It does not read
// r, which is back in its pool by the time the log is written.
func (m *rawWriteRequest) String() string {
	return fmt.Sprintf("write request of %d bytes", m.size)
}

// Buffer implements rawproto.Receiver.
func (m *rawWriteRequest) Buffer(n int) []byte {
	m.size = n
	if cap(m.r.Buf) < n {
		m.r.Buf = make([]byte, n)
	}
	m.r.Buf = m.r.Buf[:n]
	return m.r.Buf
}

// rw1Header is what an HTTP upstream is told about a push received over
// gRPC: a remote-write 1.0 body.
var rw1Header = http.Header{
	"Content-Type":                      {"application/x-protobuf"},
	"Content-Encoding":                  {"snappy"},
	"X-Prometheus-Remote-Write-Version": {"0.1.0"},
}

// Distributor implements Mimir's distributor.Distributor/Push: inspect,
// act, forward, record, exactly as the HTTP receiver does.
type Distributor struct {
	auth   validator.AuthConfig
	v      *validator.Validator
	up     upstream.Upstream
	logger log.Logger
}

// NewDistributor returns the push service.
func NewDistributor(auth validator.AuthConfig, v *validator.Validator, up upstream.Upstream, logger log.Logger) *Distributor {
	return &Distributor{auth: auth, v: v, up: up, logger: logger}
}

// Register registers d on s under distributor.Distributor. The service
// description is the generated one with Push's decoder swapped, so that
// the request arrives as bytes rather than a generated struct; reflection
// still describes it from the generated descriptor.
func (d *Distributor) Register(s grpc.ServiceRegistrar) {
	desc := distributor.Distributor_ServiceDesc
	desc.HandlerType = (*any)(nil)
	desc.Methods = []grpc.MethodDesc{{MethodName: "Push", Handler: d.handlePush}}
	s.RegisterService(&desc, d)
}

func (d *Distributor) handlePush(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := &rawWriteRequest{r: validator.GetRequest()}
	if err := dec(in); err != nil {
		validator.PutRequest(in.r)
		return nil, err
	}
	if interceptor == nil {
		return d.push(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: d, FullMethod: distributor.Distributor_Push_FullMethodName}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return d.push(ctx, req.(*rawWriteRequest))
	})
}

// emptySnappyBlock is the snappy block of nothing: its length, 0.
var emptySnappyBlock = []byte{0}

func (d *Distributor) push(ctx context.Context, in *rawWriteRequest) (*cortexpb.WriteResponse, error) {
	meta, err := metaOf(ctx, d.auth)
	if err != nil {
		validator.PutRequest(in.r)
		return nil, d.refuse(err, meta)
	}
	forwardReq := func(protobuf []byte) *upstream.Request {
		header := rw1Header.Clone()
		if meta.UserAgent != "" {
			header.Set("User-Agent", meta.UserAgent)
		}
		req := &upstream.Request{Tenant: meta.Tenant, Header: header, Protobuf: protobuf}
		if len(protobuf) == 0 {
			// A write request with nothing in it: an empty body is no
			// snappy block, which an HTTP upstream would refuse.
			req.Body = emptySnappyBlock
		}
		return req
	}
	// When the tenant's actions only report, the request goes upstream as
	// it came: it is sent while inspection goes on.
	var early *upstream.Pending
	checked, err := d.v.CheckDecodedForwarding(meta, in.r, func() {
		early = upstream.Start(ctx, d.up, forwardReq(in.r.Buf))
	})
	if err != nil {
		// early is nil: once it started, the check fails open.
		return nil, d.refuse(err, meta)
	}
	defer checked.Release()

	var resp *upstream.Response
	switch {
	case early != nil:
		resp, err = early.Wait()
	case checked.AllDropped():
		// Everything was already forwarded in earlier requests: nothing to
		// send, and the sender must not retry.
		level.Debug(d.logger).Log("msg", "every sample of the push was dropped, not forwarding", "tenant", meta.Tenant, "dropped", checked.Patch.Dropped)
		d.v.Settle(checked, meta, http.StatusOK)
		return &cortexpb.WriteResponse{}, nil
	default:
		resp, err = d.up.Push(ctx, forwardReq(checked.Protobuf()))
	}
	if err != nil {
		level.Warn(d.logger).Log("msg", "upstream did not answer", "tenant", meta.Tenant, "err", err)
		return nil, d.refuse(validator.NewError(validator.ErrIDUpstreamUnavailable, validator.CauseUnavailable, err, "upstream unavailable"), meta)
	}
	if err := upstream.RedirectError(resp); err != nil {
		// Unavailable, retried; not settled until the push comes back.
		level.Warn(d.logger).Log("msg", "upstream answered with a redirect", "tenant", meta.Tenant, "err", err)
		return nil, d.refuse(err, meta)
	}
	d.v.Settle(checked, meta, resp.StatusCode)
	if resp.GRPCStatus != nil {
		// A gRPC upstream's answer goes back as it came, details and all,
		// the HA tracker's AlreadyExists included.
		return nil, resp.GRPCStatus.Err()
	}
	if resp.StatusCode/100 != 2 {
		return nil, upstreamError(resp.StatusCode, resp.Body)
	}
	return &cortexpb.WriteResponse{}, nil
}

// refuse counts and logs a push pushguard refused, as the HTTP receiver
// does, and returns its gRPC status.
func (d *Distributor) refuse(err error, meta validator.Meta) error {
	d.v.Refused(err, meta)
	return loggedStatus{statusOf(err)}
}
