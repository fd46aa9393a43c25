package upstream

import (
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
)

// Set is the upstreams of one pushguard: where pushes received over HTTP
// go and where pushes received over gRPC go. Each protocol forwards
// natively when its upstream is configured (-upstream.url for HTTP,
// -upstream.grpc-address for gRPC), to the other one otherwise, and to the
// embedded TSDB when neither is.
type Set struct {
	// ForHTTP receives pushes that came in over HTTP.
	ForHTTP Upstream
	// ForGRPC receives pushes that came in over gRPC.
	ForGRPC Upstream
	// Embedded is the embedded TSDB, nil when an upstream is configured.
	Embedded *Embedded
	// Services must run while the upstreams are in use.
	Services []services.Service
}

// NewSet builds the configured upstreams, instrumented.
func NewSet(cfg Config, embedded EmbeddedConfig, logger log.Logger, reg prometheus.Registerer) (*Set, error) {
	m := newInstrumentMetrics(reg)
	s := &Set{}
	var httpUp, grpcUp Upstream
	if cfg.URL != "" {
		h, err := NewHTTP(cfg, logger)
		if err != nil {
			return nil, err
		}
		httpUp = m.wrap(h, "http")
	}
	if cfg.GRPC.Address != "" {
		g, err := NewGRPC(cfg.GRPC, cfg, logger)
		if err != nil {
			return nil, err
		}
		grpcUp = m.wrap(g, "grpc")
		s.Services = append(s.Services, g)
	}
	if httpUp == nil && grpcUp == nil {
		e, err := NewEmbedded(embedded, logger, reg)
		if err != nil {
			return nil, err
		}
		level.Info(logger).Log("msg", "no -upstream.url nor -upstream.grpc-address: accepted pushes go to the embedded TSDB", "dir", embedded.Dir)
		s.Embedded = e
		s.Services = append(s.Services, e)
		httpUp = m.wrap(e, "embedded")
		grpcUp = httpUp
	}
	s.ForHTTP, s.ForGRPC = httpUp, grpcUp
	if s.ForHTTP == nil {
		s.ForHTTP = grpcUp
	}
	if s.ForGRPC == nil {
		s.ForGRPC = httpUp
	}
	return s, nil
}
