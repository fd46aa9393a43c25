package grpcapi

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pushguard/pushguard/proto/compat/distributor"
	"github.com/pushguard/pushguard/validator"
)

// Interceptors are the unary interceptors pushguard's gRPC server needs:
// the services dskit registers that pushguard does not serve are refused,
// panics become Internal errors rather than the end of the process, and
// pushes are admitted by adm.
func Interceptors(adm *validator.Admission, logger log.Logger) []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{unservedInterceptor, recoverInterceptor(logger), admitInterceptor(adm)}
}

// unservedServices are registered on every dskit gRPC server and not
// served by pushguard. httpgrpc.HTTP would answer any HTTP route over the
// gRPC port, the admin view among them, past the HTTP proxy an operator
// puts its authentication in, and would record pushes without their
// sender's address.
var unservedServices = []string{"httpgrpc.HTTP"}

// unservedInterceptor answers a call to an unserved service as grpc-go
// answers a service it does not know.
func unservedInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if svc := unservedService(info.FullMethod); svc != "" {
		return nil, status.Errorf(codes.Unimplemented, "unknown service %s", svc)
	}
	return handler(ctx, req)
}

// unservedService is the unserved service fullMethod ("/service/method")
// belongs to, or "".
func unservedService(fullMethod string) string {
	svc, _, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if slices.Contains(unservedServices, svc) {
		return svc
	}
	return ""
}

// recoverInterceptor turns a panic in a handler into an Internal error.
// grpc-go does not recover panics, and one request's bug must not take
// down every tenant's pushes.
func recoverInterceptor(logger log.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				level.Error(logger).Log("msg", "panic handling gRPC request", "method", info.FullMethod, "err", fmt.Sprint(p), "stack", string(debug.Stack()))
				err = statusError(fmt.Errorf("panic: %v", p))
			}
		}()
		return handler(ctx, req)
	}
}

// admitInterceptor lets a distributor.Distributor/Push run only when adm
// admits it: over the in-flight limit and during shutdown it fails with
// Unavailable, which clients retry. Other methods pass.
func admitInterceptor(adm *validator.Admission) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod != distributor.Distributor_Push_FullMethodName {
			return handler(ctx, req)
		}
		if err := adm.Admit(); err != nil {
			return nil, statusError(err)
		}
		defer adm.Done()
		return handler(ctx, req)
	}
}
