package grpcapi

import (
	"bytes"
	"context"
	"slices"
	"strings"

	"google.golang.org/grpc"

	"google.golang.org/protobuf/proto"

	"github.com/pushguard/pushguard/grpcapi/rawproto"
	"github.com/pushguard/pushguard/proto/compat/cortexpb"
	pushguardv1 "github.com/pushguard/pushguard/proto/pushguard/v1"
	"github.com/pushguard/pushguard/validator"
	"github.com/pushguard/pushguard/validator/report"
)

// ValidatorService implements pushguard.v1.ValidatorService.
type ValidatorService struct {
	pushguardv1.UnimplementedValidatorServiceServer
	auth     validator.AuthConfig
	v        *validator.Validator
	instance string
}

// NewValidatorService returns the service; instance names this replica in
// ListOffenders' answers.
func NewValidatorService(auth validator.AuthConfig, v *validator.Validator, instance string) *ValidatorService {
	return &ValidatorService{auth: auth, v: v, instance: instance}
}

// Register registers s on r as pushguard.v1.ValidatorService, with a
// decoder that refuses a request that is not the method's message as
// InvalidArgument: grpc-go's own answers Internal, which callers retry.
func (s *ValidatorService) Register(r grpc.ServiceRegistrar) {
	desc := pushguardv1.ValidatorService_ServiceDesc
	desc.Methods = slices.Clone(desc.Methods)
	for i, m := range desc.Methods {
		desc.Methods[i].Handler = strictlyDecoded(m.Handler)
	}
	r.RegisterService(&desc, s)
}

// strictlyDecoded is handler with the request received as bytes (see
// rawproto) and unmarshalled here, so that what is wrong with it is the
// caller's error.
func strictlyDecoded(handler grpc.MethodHandler) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		var raw rawproto.Bytes
		if err := dec(&raw); err != nil {
			return nil, err
		}
		return handler(srv, ctx, func(m any) error {
			if err := proto.Unmarshal(raw, m.(proto.Message)); err != nil {
				return statusError(validator.NewError(validator.ErrIDBadProtobuf, validator.CauseBadData, err,
					"request is not a valid %s message", proto.MessageName(m.(proto.Message))))
			}
			return nil
		}, interceptor)
	}
}

// Validate implements pushguardv1.ValidatorServiceServer: a dry run that
// forwards nothing and records nothing.
func (s *ValidatorService) Validate(ctx context.Context, req *pushguardv1.ValidateRequest) (*pushguardv1.ValidateResponse, error) {
	meta, err := metaOf(ctx, s.auth)
	if err != nil {
		return nil, statusError(err)
	}
	var action validator.Action
	if req.GetAction() != "" {
		if action, err = validator.ParseAction(req.GetAction()); err != nil {
			return nil, statusError(validator.NewError(validator.ErrIDBadQuery, validator.CauseBadData, err, "invalid action"))
		}
	}
	r := validator.GetRequest()
	var raw []byte
	switch p := req.GetPayload().(type) {
	case *pushguardv1.ValidateRequest_WriteRequest:
		r.Buf, err = proto.MarshalOptions{}.MarshalAppend(r.Buf[:0], p.WriteRequest)
	case *pushguardv1.ValidateRequest_RawBody:
		raw = p.RawBody.GetBody()
		var version validator.Version
		if version, err = validator.Negotiate(p.RawBody.GetContentType(), p.RawBody.GetContentEncoding()); err == nil {
			err = validator.Decompress(raw, s.v.MaxRequestBytes(), r)
			r.Version = version
		}
	default:
		err = validator.NewError(validator.ErrIDBadQuery, validator.CauseBadData, nil, "set write_request or raw_body")
	}
	if err != nil {
		validator.PutRequest(r)
		return nil, statusError(err)
	}
	c, err := s.v.DryRun(meta.Tenant, r, action)
	if err != nil {
		return nil, statusError(err)
	}
	defer c.Release()

	resp := &pushguardv1.ValidateResponse{Counts: countsOf(c), Changed: c.Changed}
	for _, o := range s.v.Offenders(c, meta) {
		resp.Offenders = append(resp.Offenders, offenderProto(o))
	}
	patched := &cortexpb.WriteRequest{}
	rw1 := c.Protobuf()
	if c.Request.Version == validator.RW2 {
		// The message form is remote write 1.0, Mimir's.
		rw1, err = validator.RW2ToRW1(rw1, nil)
	}
	// Label values that are not UTF-8 cannot be shown as a message (the
	// field is a string for JSON's sake); patched_body still carries them.
	if err == nil && proto.Unmarshal(rw1, patched) == nil {
		resp.PatchedRequest = patched
	}
	if raw != nil {
		// Copied: the checked request's buffers go back to their pools.
		resp.PatchedBody = bytes.Clone(c.Body(raw))
	}
	return resp, nil
}

// ListOffenders implements pushguardv1.ValidatorServiceServer: the same
// report, filters and order as GET /api/v1/offenders.
func (s *ValidatorService) ListOffenders(ctx context.Context, req *pushguardv1.ListOffendersRequest) (*pushguardv1.ListOffendersResponse, error) {
	meta, err := metaOf(ctx, s.auth)
	if err != nil {
		return nil, statusError(err)
	}
	f := report.Filter{Metric: req.GetMetric(), Kind: req.GetKind(), Limit: int(req.GetLimit())}
	if err := validator.CheckKindFilter(f.Kind); err != nil {
		return nil, statusError(err)
	}
	// Origin label names as GET /api/v1/offenders reads them: spaces
	// around a name are not part of it, and a name is needed.
	for name, value := range req.GetOrigin() {
		if name = strings.TrimSpace(name); name == "" {
			return nil, statusError(validator.NewError(validator.ErrIDBadQuery, validator.CauseBadData, nil, "origin label names must not be empty"))
		}
		if f.Origin == nil {
			f.Origin = map[string]string{}
		}
		f.Origin[name] = value
	}
	if f.Limit < 0 {
		return nil, statusError(validator.NewError(validator.ErrIDBadQuery, validator.CauseBadData, nil, "limit must be non-negative, got %d", f.Limit))
	}
	offenders, evicted := s.v.Store().List(meta.Tenant, f)
	resp := &pushguardv1.ListOffendersResponse{EvictedOffenders: evicted, Instance: s.instance}
	for k := range offenders {
		resp.Offenders = append(resp.Offenders, offenderProto(&offenders[k]))
	}
	return resp, nil
}
