package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/grafana/dskit/server"
	"github.com/grafana/dskit/services"

	"github.com/pushguard/pushguard/validator"
)

// drainOnSignal is the server's signal handler. On SIGTERM or SIGINT it
// first drains, so /ready turns 503 and new pushes are refused with a
// retryable status, then waits -shutdown-delay, during which load
// balancers notice and stop sending, and only then lets the server close
// its listeners.
type drainOnSignal struct {
	adm    *validator.Admission
	delay  time.Duration
	logger log.Logger
	stop   chan struct{}
	once   sync.Once
}

func newDrainOnSignal(adm *validator.Admission, delay time.Duration, logger log.Logger) *drainOnSignal {
	return &drainOnSignal{adm: adm, delay: delay, logger: logger, stop: make(chan struct{})}
}

// Loop implements server.SignalHandler.
func (d *drainOnSignal) Loop() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	select {
	case <-d.stop:
		return
	case sig := <-sigs:
		d.adm.Drain()
		level.Info(d.logger).Log("msg", "shutting down: not ready, refusing new pushes", "signal", sig, "shutdown_delay", d.delay)
	}
	select {
	case <-d.stop:
	case <-time.After(d.delay):
	}
}

// Stop implements server.SignalHandler.
func (d *drainOnSignal) Stop() { d.once.Do(func() { close(d.stop) }) }

// newServerService runs the dskit server until its signal handler returns,
// then shuts it down gracefully: HTTP and gRPC requests in flight finish
// within -server.graceful-shutdown-timeout, after which they are cut (dskit's
// own Shutdown would wait for gRPC forever), with a warning that says how
// many pushes were: their senders get no answer and retry them.
func newServerService(srv *server.Server, gracefulTimeout time.Duration, adm *validator.Admission, logger log.Logger) services.Service {
	return services.NewBasicService(nil, func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Run() }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			srv.Stop()
			return <-errc
		}
	}, func(error) error {
		ctx, cancel := context.WithTimeout(context.Background(), gracefulTimeout)
		defer cancel()
		grpcDone := make(chan struct{})
		go func() {
			srv.GRPC.GracefulStop()
			close(grpcDone)
		}()
		httpErr := srv.HTTPServer.Shutdown(ctx)
		select {
		case <-grpcDone:
			if httpErr == nil {
				return nil
			}
		case <-ctx.Done():
		}
		// Time is up: whatever still runs, such as a gRPC health Watch
		// stream, is cut. Only cut pushes are worth a warning.
		if n := adm.Inflight(); n > 0 {
			level.Warn(logger).Log("msg", "graceful shutdown timed out, cutting the pushes still in flight", "timeout", gracefulTimeout, "pushes_in_flight", n)
		}
		// Closing the connections cancels the HTTP pushes' contexts, and
		// with them their upstream calls: none is answered once cut.
		_ = srv.HTTPServer.Close()
		srv.GRPC.Stop()
		return nil
	})
}
