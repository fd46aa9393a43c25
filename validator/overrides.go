package validator

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/grafana/dskit/flagext"
	"github.com/grafana/dskit/runtimeconfig"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"gopkg.in/yaml.v3"
)

// RuntimeConfig says where the per-tenant overrides live. They are
// reloaded without restart, as Mimir's runtime configuration is.
type RuntimeConfig struct {
	File         flagext.StringSliceCSV `yaml:"file"`
	ReloadPeriod time.Duration          `yaml:"period"`
}

// RegisterFlags registers the runtime configuration flags.
func (cfg *RuntimeConfig) RegisterFlags(f *flag.FlagSet) {
	f.Var(&cfg.File, "runtime-config.file", "Comma-separated YAML files with per-tenant overrides of the rules, the default action and the origin labels, reloaded without restart; later files win. An invalid file is logged and counted, and the last good configuration stays in force.")
	f.DurationVar(&cfg.ReloadPeriod, "runtime-config.reload-period", 10*time.Second, "How often the runtime configuration files are checked for changes.")
}

// Validate checks the configuration.
func (cfg *RuntimeConfig) Validate() error {
	if len(cfg.File) > 0 && cfg.ReloadPeriod <= 0 {
		return errors.New("-runtime-config.reload-period must be positive")
	}
	return nil
}

// TenantOverrides is one tenant's entry of the runtime file. A field left
// out keeps the default of the YAML validator block and flags.
type TenantOverrides struct {
	Action       *string       `yaml:"action"`
	Rules        *[]RuleConfig `yaml:"rules"`
	OriginLabels *LabelNames   `yaml:"origin_labels"`
}

// RuntimeFile is the runtime configuration file.
type RuntimeFile struct {
	Overrides map[string]TenantOverrides `yaml:"overrides"`
}

// TenantConfig is what applies to the pushes of one tenant.
type TenantConfig struct {
	// Rules is the tenant's policy: its rules, then its default action.
	Rules        *Rules
	OriginLabels []string
}

type runtimeOverrides struct {
	tenants map[string]*TenantConfig
}

// Overrides answers the configuration of each tenant: the defaults, or the
// tenant's entry of the runtime file as last loaded.
type Overrides struct {
	defaults    *TenantConfig
	defaultsCfg Config
	manager     *runtimeconfig.Manager
	failures    prometheus.Counter
}

// NewOverrides returns the overrides for cfg's defaults. With runtime
// files configured, Service returns the service that loads them.
func NewOverrides(cfg Config, rc RuntimeConfig, logger log.Logger, reg prometheus.Registerer) (*Overrides, error) {
	def, err := defaultTenantConfig(cfg)
	if err != nil {
		return nil, err
	}
	o := &Overrides{defaults: def, defaultsCfg: cfg}
	if len(rc.File) == 0 {
		return o, nil
	}
	if err := rc.Validate(); err != nil {
		return nil, err
	}
	o.failures = promauto.With(reg).NewCounter(prometheus.CounterOpts{
		Namespace: "pushguard",
		Name:      "runtime_config_reload_failures_total",
		Help:      "Attempts to load a runtime configuration file that failed; the last good configuration stays in force.",
	})
	o.manager, err = runtimeconfig.New(runtimeconfig.Config{
		ReloadPeriod: rc.ReloadPeriod,
		LoadPath:     rc.File,
		// Validate each file as read, so that a file invalid on its own
		// is refused and named, even where a later one would cover it.
		Preprocessor: func(b []byte) ([]byte, error) {
			if _, err := o.load(bytes.NewReader(b)); err != nil {
				return nil, err
			}
			return b, nil
		},
		Loader: func(r io.Reader) (any, error) { return o.load(r) },
	}, "overrides", prometheus.WrapRegistererWithPrefix("pushguard_", reg), failureLogger{next: logger, failures: o.failures})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// failureLogger passes the runtime configuration manager's log lines on,
// counting every reload it logs as failed. Logging is the only way the
// manager tells of a failed reload, whatever step failed: reading a file
// (one removed or unreadable fails before the Preprocessor and the Loader
// run), validating, merging or loading it. A failure at start-up is
// returned instead, and stops pushguard.
type failureLogger struct {
	next     log.Logger
	failures prometheus.Counter
}

// Log implements log.Logger.
func (l failureLogger) Log(keyvals ...any) error {
	for i := 0; i+1 < len(keyvals); i += 2 {
		if keyvals[i] == level.Key() && keyvals[i+1] == level.ErrorValue() {
			l.failures.Inc()
			break
		}
	}
	return l.next.Log(keyvals...)
}

func defaultTenantConfig(cfg Config) (*TenantConfig, error) {
	def, err := ParseAction(cfg.Action)
	if err != nil {
		return nil, fmt.Errorf("invalid -validator.action: %w", err)
	}
	rules, err := CompileRules(cfg.Rules, def)
	if err != nil {
		return nil, fmt.Errorf("invalid validator rules: %w", err)
	}
	return &TenantConfig{Rules: rules, OriginLabels: cfg.OriginLabels}, nil
}

// load parses and compiles a runtime file, strictly: an unknown key, a bad
// selector, kind or action fails the whole file.
func (o *Overrides) load(r io.Reader) (*runtimeOverrides, error) {
	var f RuntimeFile
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	out := &runtimeOverrides{tenants: make(map[string]*TenantConfig, len(f.Overrides))}
	for tenant, t := range f.Overrides {
		cfg := o.defaultsCfg
		if t.Action != nil {
			cfg.Action = *t.Action
		}
		if t.Rules != nil {
			cfg.Rules = *t.Rules
		}
		if t.OriginLabels != nil {
			cfg.OriginLabels = *t.OriginLabels
		}
		tc, err := defaultTenantConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("tenant %q: %w", tenant, err)
		}
		out.tenants[tenant] = tc
	}
	return out, nil
}

// Service returns the service that loads and reloads the runtime files, or
// nil when there are none. It fails to start on an invalid file.
func (o *Overrides) Service() services.Service {
	if o.manager == nil {
		return nil
	}
	return o.manager
}

// For returns the configuration of tenant.
func (o *Overrides) For(tenant string) *TenantConfig {
	if o.manager != nil {
		if rt, ok := o.manager.GetConfig().(*runtimeOverrides); ok && rt != nil {
			if tc, ok := rt.tenants[tenant]; ok {
				return tc
			}
		}
	}
	return o.defaults
}
