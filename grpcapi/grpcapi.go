package grpcapi

import (
	"flag"

	"github.com/go-kit/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	"github.com/pushguard/pushguard/grpcapi/rawproto"
	pushguardv1 "github.com/pushguard/pushguard/proto/pushguard/v1"
	"github.com/pushguard/pushguard/upstream"
	"github.com/pushguard/pushguard/validator"
)

// Config configures the gRPC services.
type Config struct {
	ReflectionEnabled bool `yaml:"reflection_enabled"`
}

// RegisterFlags registers the gRPC API flags.
func (cfg *Config) RegisterFlags(f *flag.FlagSet) {
	f.BoolVar(&cfg.ReflectionEnabled, "server.grpc-reflection-enabled", true, "Serve gRPC server reflection, so that grpcurl and similar clients work without the .proto files.")
}

// ServerOptions are the options pushguard's gRPC server needs: the codec
// that lets pushes through as bytes.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ForceServerCodecV2(rawproto.NewCodec())}
}

// Register registers every gRPC service on s: ValidatorService (its
// reports naming this replica, instance), the Mimir-compatible Distributor,
// health (SERVING when ready says so) and, when enabled, reflection.
func Register(s *grpc.Server, cfg Config, auth validator.AuthConfig, v *validator.Validator, up upstream.Upstream, ready func() bool, instance string, logger log.Logger) {
	pushguardv1.RegisterValidatorServiceServer(s, NewValidatorService(auth, v, instance))
	NewDistributor(auth, v, up, logger).Register(s)
	NewHealth(ready).Register(s)
	if cfg.ReflectionEnabled {
		reflection.Register(s)
	}
}
