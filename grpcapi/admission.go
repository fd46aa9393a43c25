package grpcapi

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"google.golang.org/grpc"

	"github.com/pushguard/pushguard/proto/compat/distributor"
	"github.com/pushguard/pushguard/validator"
)

// Interceptors are the unary interceptors pushguard's gRPC server needs:
// panics become Internal errors rather than the end of the process, and
// pushes are admitted by adm.
func Interceptors(adm *validator.Admission, logger log.Logger) []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{recoverInterceptor(logger), admitInterceptor(adm)}
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
