package validator

import (
	"flag"

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

// Tenant resolves the tenant of a request from its X-Scope-OrgID value.
func (cfg *AuthConfig) Tenant(orgID string) (string, error) {
	if !cfg.MultitenancyEnabled {
		return cfg.NoAuthTenant, nil
	}
	if orgID == "" {
		return "", NewError(ErrIDMissingTenant, CauseUnauthorized, nil, "no tenant: set the X-Scope-OrgID header")
	}
	if err := tenant.ValidTenantID(orgID); err != nil {
		return "", NewError(ErrIDInvalidTenant, CauseUnauthorized, err, "invalid tenant %q", orgID)
	}
	return orgID, nil
}
