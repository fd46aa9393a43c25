package grpcapi

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/pushguard/pushguard/proto/compat/distributor"
	pushguardv1 "github.com/pushguard/pushguard/proto/pushguard/v1"
)

// watchInterval is how often Watch re-reads readiness.
const watchInterval = 500 * time.Millisecond

// Health implements the standard gRPC health service from the same
// readiness as GET /ready: SERVING only once every component runs.
type Health struct {
	healthpb.UnimplementedHealthServer
	ready    func() bool
	services map[string]bool
}

// NewHealth returns the health service; ready is read on every call.
func NewHealth(ready func() bool) *Health {
	return &Health{ready: ready, services: map[string]bool{
		"": true,
		pushguardv1.ValidatorService_ServiceDesc.ServiceName: true,
		distributor.Distributor_ServiceDesc.ServiceName:      true,
	}}
}

// Register registers h on s.
func (h *Health) Register(s grpc.ServiceRegistrar) { healthpb.RegisterHealthServer(s, h) }

func (h *Health) status() healthpb.HealthCheckResponse_ServingStatus {
	if h.ready() {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

// Check implements healthpb.HealthServer.
func (h *Health) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if !h.services[req.GetService()] {
		return nil, status.Errorf(codes.NotFound, "unknown service %q", req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: h.status()}, nil
}

// List implements healthpb.HealthServer.
func (h *Health) List(context.Context, *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	st := h.status()
	out := &healthpb.HealthListResponse{Statuses: map[string]*healthpb.HealthCheckResponse{}}
	for name := range h.services {
		out.Statuses[name] = &healthpb.HealthCheckResponse{Status: st}
	}
	return out, nil
}

// Watch implements healthpb.HealthServer: it sends the status now and
// again whenever it changes, until the caller goes away.
func (h *Health) Watch(req *healthpb.HealthCheckRequest, stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	last := healthpb.HealthCheckResponse_ServingStatus(-1)
	ticker := time.NewTicker(watchInterval)
	defer ticker.Stop()
	for {
		st := healthpb.HealthCheckResponse_SERVICE_UNKNOWN
		if h.services[req.GetService()] {
			st = h.status()
		}
		if st != last {
			if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-ticker.C:
		}
	}
}
