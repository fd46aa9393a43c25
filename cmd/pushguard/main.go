// Command pushguard is a push-validation hook for Grafana Mimir and Cortex:
// it receives remote-write pushes, finds samples with duplicate timestamps,
// reports where they come from, optionally patches them and forwards what it
// accepts upstream.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	dslog "github.com/grafana/dskit/log"
	"github.com/grafana/dskit/server"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gopkg.in/yaml.v3"

	"github.com/pushguard/pushguard/grpcapi"
	"github.com/pushguard/pushguard/httpapi"
	"github.com/pushguard/pushguard/upstream"
	"github.com/pushguard/pushguard/validator"
)

// Config is pushguard's whole configuration, as YAML and as flags.
type Config struct {
	Server    server.Config           `yaml:"server"`
	GRPC      grpcapi.Config          `yaml:"grpc"`
	Auth      validator.AuthConfig    `yaml:"auth"`
	Validator validator.Config        `yaml:"validator"`
	Runtime   validator.RuntimeConfig `yaml:"runtime_config"`
	Upstream  upstream.Config         `yaml:"upstream"`
	Embedded  upstream.EmbeddedConfig `yaml:"embedded"`
	Report    httpapi.ReportConfig    `yaml:"report"`
	// ShutdownDelay is how long pushguard stays up, not ready and refusing
	// new pushes, between SIGTERM and closing its listeners.
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`
}

// RegisterFlags registers every flag, with pushguard's defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	c.Server.RegisterFlags(f)
	c.GRPC.RegisterFlags(f)
	c.Auth.RegisterFlags(f)
	c.Validator.RegisterFlags(f)
	c.Runtime.RegisterFlags(f)
	c.Upstream.RegisterFlags(f)
	c.Embedded.RegisterFlags(f)
	c.Report.RegisterFlags(f)
	f.DurationVar(&c.ShutdownDelay, "shutdown-delay", 0, "How long to keep serving after SIGTERM before closing the listeners: /ready answers 503 and new pushes are refused with a retryable 503 from the first moment, so load balancers can stop sending. Pushes in flight then finish within -server.graceful-shutdown-timeout.")
	// Ports follow Mimir's.
	setDefault(f, "server.http-listen-port", "8080")
	setDefault(f, "server.grpc-listen-port", "9095")
	// Pushes are up to 100 MiB, as Mimir's distributor takes them.
	setDefault(f, "server.grpc-max-recv-msg-size-bytes", "104857600")
	// Room for a push's upstream call (-upstream.timeout) within the time
	// the HTTP server gives a request, as Mimir's own default.
	setDefault(f, "server.http-write-timeout", "2m")
}

func setDefault(f *flag.FlagSet, name, value string) {
	fl := f.Lookup(name)
	_ = fl.Value.Set(value)
	fl.DefValue = value
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := c.Auth.Validate(); err != nil {
		return err
	}
	if err := c.Validator.Validate(); err != nil {
		return err
	}
	if err := c.Runtime.Validate(); err != nil {
		return err
	}
	if err := c.Report.Validate(); err != nil {
		return err
	}
	if f := c.Server.LogFormat; f != dslog.LogfmtFormat && f != dslog.JSONFormat {
		return fmt.Errorf("-log.format must be %s or %s, got %q", dslog.LogfmtFormat, dslog.JSONFormat, f)
	}
	if c.ShutdownDelay < 0 {
		return fmt.Errorf("-shutdown-delay must not be negative")
	}
	if w := c.Server.HTTPServerWriteTimeout; w > 0 && c.Upstream.Timeout >= w {
		// The server would cut the connection before the upstream's
		// answer, or pushguard's 503, reached the sender: it would get an
		// empty reply for a push the upstream may have stored.
		return fmt.Errorf("-upstream.timeout (%s) must be shorter than -server.http-write-timeout (%s), the time the HTTP server gives a push, body and answer included: raise -server.http-write-timeout (server.http_server_write_timeout in YAML)", c.Upstream.Timeout, w)
	}
	return c.Upstream.Validate()
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			// -help, -h: the usage is printed; asking for it is no failure.
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var cfg Config
	configFile, err := parseConfig(args, &cfg)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}

	logger := log.With(dslog.NewGoKitWithLevel(cfg.Server.LogLevel, cfg.Server.LogFormat), "ts", log.DefaultTimestampUTC)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Server.Log = logger
	cfg.Server.Registerer = reg
	cfg.Server.Gatherer = reg
	adm := validator.NewAdmission(cfg.Validator.Limits.MaxInflightPushRequests, reg)
	cfg.Server.SignalHandler = newDrainOnSignal(adm, cfg.ShutdownDelay, logger)
	cfg.Server.GRPCOptions = append(cfg.Server.GRPCOptions, grpcapi.ServerOptions()...)
	cfg.Server.GRPCMiddleware = append(cfg.Server.GRPCMiddleware, grpcapi.Interceptors(adm, logger)...)
	if configFile != "" {
		level.Info(logger).Log("msg", "loaded configuration", "file", configFile)
	}

	cfg.Validator.DebugLog = cfg.Server.LogLevel.String() == "debug"
	overrides, err := validator.NewOverrides(cfg.Validator, cfg.Runtime, logger, reg)
	if err != nil {
		return err
	}
	v, err := validator.NewWithOverrides(cfg.Validator, overrides, logger, reg)
	if err != nil {
		return err
	}
	ups, err := upstream.NewSet(cfg.Upstream, cfg.Embedded, logger, reg)
	if err != nil {
		return err
	}
	deps, embedded := ups.Services, ups.Embedded
	if s := overrides.Service(); s != nil {
		deps = append([]services.Service{s}, deps...)
	}
	if s := v.Service(); s != nil {
		deps = append(deps, s)
	}

	// Dependencies start first and stop last, so that pushes in flight when
	// the server stops can still reach them. They start before the server
	// listens, so that a start-up that fails never says it listened.
	depManager, err := startDependencies(deps)
	if err != nil {
		return err
	}
	started := false
	defer func() {
		stopDependencies(depManager, logger)
		if started {
			level.Info(logger).Log("msg", "pushguard stopped")
		}
	}()

	srv, err := server.New(cfg.Server)
	if err != nil {
		return err
	}
	tenantOf := func(r *http.Request) (string, error) { return cfg.Auth.Tenant(r.Header.Get("X-Scope-OrgID")) }
	srv.HTTP.Path("/api/v1/push").Methods(http.MethodPost).Handler(httpapi.Admit(adm, httpapi.NewPushHandler(cfg.Auth, v, ups.ForHTTP, logger, httpapi.WithSenderAddress(cfg.Report.SenderAddress))))
	srv.HTTP.Path("/api/v1/offenders").Methods(http.MethodGet).Handler(httpapi.NewOffendersHandler(cfg.Auth, v.Store(), cfg.Report.InstanceID))
	if cfg.Report.AdminEnabled {
		srv.HTTP.Path("/admin/api/v1/offenders").Methods(http.MethodGet).Handler(httpapi.NewAdminOffendersHandler(v.Store(), cfg.Report.InstanceID))
	}
	ui := httpapi.NewUIHandler(cfg.Auth, v.Store(), cfg.Report.AdminEnabled, cfg.Report.InstanceID, logger)
	srv.HTTP.Path("/").Methods(http.MethodGet, http.MethodHead).Handler(ui)
	srv.HTTP.Path(httpapi.UIOffenderPath).Methods(http.MethodGet, http.MethodHead).Handler(ui)
	srv.HTTP.PathPrefix(httpapi.UIStaticPrefix).Methods(http.MethodGet, http.MethodHead).Handler(ui)
	if embedded != nil {
		srv.HTTP.Path("/embedded/api/v1/query").Methods(http.MethodGet, http.MethodPost).Handler(httpapi.NewEmbeddedQueryHandler(embedded, tenantOf, logger))
	}

	var serverService services.Service
	ready := func() bool {
		return serverService != nil && serverService.State() == services.Running && !adm.Draining() && (depManager == nil || depManager.IsHealthy())
	}
	grpcapi.Register(srv.GRPC, cfg.GRPC, cfg.Auth, v, ups.ForGRPC, ready, cfg.Report.InstanceID, logger)
	serverService = newServerService(srv, cfg.Server.ServerGracefulShutdownTimeout, adm, logger)
	srv.HTTP.Path("/ready").Handler(httpapi.NewReadyHandler(ready))
	if err := services.StartAndAwaitRunning(context.Background(), serverService); err != nil {
		return fmt.Errorf("starting server: %w", err)
	}
	started = true
	level.Info(logger).Log("msg", "pushguard started", "http", srv.HTTPListenAddr(), "grpc", srv.GRPCListenAddr())
	return serverService.AwaitTerminated(context.Background())
}

// startDependencies starts deps and waits until they all run; nil when
// there are none. On failure the ones that started are stopped again.
func startDependencies(deps []services.Service) (*services.Manager, error) {
	if len(deps) == 0 {
		return nil, nil
	}
	m, err := services.NewManager(deps...)
	if err != nil {
		return nil, err
	}
	if err := services.StartManagerAndAwaitHealthy(context.Background(), m); err != nil {
		_ = services.StopManagerAndAwaitStopped(context.Background(), m)
		return nil, fmt.Errorf("starting: %w", err)
	}
	return m, nil
}

// stopDependencies stops what startDependencies started, once the server
// stopped or failed to start.
func stopDependencies(m *services.Manager, logger log.Logger) {
	if m == nil {
		return
	}
	if err := services.StopManagerAndAwaitStopped(context.Background(), m); err != nil {
		level.Error(logger).Log("msg", "stopping", "err", err)
	}
}

// parseConfig registers the flags, loads -config.file and lets flags given
// on the command line override it, as Mimir does.
func parseConfig(args []string, cfg *Config) (string, error) {
	fs, configFile := newFlagSet(cfg)
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		// The flag package stops at the first argument that is not a flag
		// and leaves every flag after it unset: "-auth.multitenancy-enabled
		// false" would silently drop the rest of the command line.
		return "", fmt.Errorf("unexpected argument %q: pushguard takes only flags, as -name=value (a boolean flag is -name=false, not -name false); flags after it would be ignored", fs.Arg(0))
	}
	if *configFile == "" {
		return "", nil
	}
	data, err := os.ReadFile(*configFile)
	if err != nil {
		return "", fmt.Errorf("reading -config.file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("parsing -config.file %s: %w", *configFile, err)
	}
	// A second document would be read by nobody, its mistakes unreported.
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("parsing -config.file %s: it holds more than one YAML document (---); put the whole configuration in one", *configFile)
	}
	// Parse again so that flags on the command line win over the file.
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	return *configFile, nil
}

// newFlagSet returns the flag set of every flag pushguard takes.
func newFlagSet(cfg *Config) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("pushguard", flag.ContinueOnError)
	configFile := fs.String("config.file", "", "YAML configuration file; flags given on the command line override it.")
	cfg.RegisterFlags(fs)
	return fs, configFile
}
