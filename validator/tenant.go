package validator

import (
	"flag"
	"fmt"

	"github.com/grafana/dskit/tenant"
)

// AuthConfig says how the tenant of a push is found, as Mimir does.
type AuthConfig struct {
	MultitenancyEnabled bool   `yaml:"multitenancy_enabled"`
	NoAuthTenant        string `yaml:"no_auth_tenant"`
}

// RegisterFlags registers the auth flags.
func (cfg *AuthConfig) RegisterFlags(f *flag.FlagSet) {
	f.BoolVar(&cfg.MultitenancyEnabled, "auth.multitenancy-enabled", true, "When true, every request must name its tenant in the X-Scope-OrgID header (gRPC metadata x-scope-orgid); requests without one are refused.")
	f.StringVar(&cfg.NoAuthTenant, "auth.no-auth-tenant", "anonymous", "Tenant used for every request when multitenancy is disabled.")
}

// Validate checks the tenant used without multitenancy, which every push
// would otherwise carry to be refused upstream.
func (cfg *AuthConfig) Validate() error {
	if cfg.MultitenancyEnabled {
		return nil
	}
	if cfg.NoAuthTenant == "" {
		return fmt.Errorf("-auth.no-auth-tenant must not be empty while -auth.multitenancy-enabled=false: it is every push's tenant")
	}
	if err := tenant.ValidTenantID(cfg.NoAuthTenant); err != nil {
		return fmt.Errorf("invalid -auth.no-auth-tenant %q: %w", cfg.NoAuthTenant, err)
	}
	return nil
}

// Tenant resolves the tenant of an HTTP request from its X-Scope-OrgID
// header's value.
func (cfg *AuthConfig) Tenant(orgID string) (string, error) {
	return cfg.TenantFrom(orgID, "the X-Scope-OrgID header")
}

// TenantFrom resolves the tenant of a request from its X-Scope-OrgID
// value, which the caller sets in source (named in the error when it is
// missing).
func (cfg *AuthConfig) TenantFrom(orgID, source string) (string, error) {
	if !cfg.MultitenancyEnabled {
		return cfg.NoAuthTenant, nil
	}
	if orgID == "" {
		return "", NewError(ErrIDMissingTenant, CauseUnauthorized, nil, "no tenant: set %s", source)
	}
	if err := tenant.ValidTenantID(orgID); err != nil {
		return "", NewError(ErrIDInvalidTenant, CauseUnauthorized, err, "invalid tenant %q", orgID)
	}
	return orgID, nil
}
