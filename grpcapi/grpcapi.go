package grpcapi

import (
	"flag"

	"github.com/go-kit/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	v1reflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1"
	v1alphareflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	"github.com/pushguard/pushguard/grpcapi/rawproto"
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
	NewValidatorService(auth, v, instance).Register(s)
	NewDistributor(auth, v, up, logger).Register(s)
	NewHealth(ready).Register(s)
	if cfg.ReflectionEnabled {
		registerReflection(s)
	}
}

// registerReflection registers server reflection (v1 and v1alpha, which
// grpcurl still uses) listing every service of s but the unserved ones.
func registerReflection(s *grpc.Server) {
	opts := reflection.ServerOptions{Services: servedServices{s}}
	v1reflectiongrpc.RegisterServerReflectionServer(s, reflection.NewServerV1(opts))
	v1alphareflectiongrpc.RegisterServerReflectionServer(s, reflection.NewServer(opts))
}

// servedServices is s's services without the unserved ones, which dskit
// registers after pushguard's (see unservedServices).
type servedServices struct{ s *grpc.Server }

func (p servedServices) GetServiceInfo() map[string]grpc.ServiceInfo {
	info := p.s.GetServiceInfo()
	for _, svc := range unservedServices {
		delete(info, svc)
	}
	return info
}
