package grpcapi

import (
	"context"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/pushguard/pushguard/upstream"
	"github.com/pushguard/pushguard/validator"
)

// metaOf resolves the tenant of a call from metadata x-scope-orgid, as
// Mimir does, and returns what the validator records about the caller.
// When the tenant is refused, the caller is still named, with the tenant
// it gave.
func metaOf(ctx context.Context, auth validator.AuthConfig) (validator.Meta, error) {
	meta := validator.Meta{UserAgent: first(ctx, "user-agent"), RemoteAddr: peerHost(ctx)}
	tenant, err := tenantOf(ctx, auth)
	if err != nil {
		meta.Tenant = strings.Join(metadata.ValueFromIncomingContext(ctx, upstream.OrgIDMetadataKey), ",")
		return meta, err
	}
	meta.Tenant, meta.Time = tenant, time.Now()
	return meta, nil
}

// tenantOf returns the tenant a call names in metadata x-scope-orgid. With
// multitenancy on, the metadata must hold exactly one value: Mimir's
// distributor (dskit's user.ExtractFromGRPCRequest) refuses a call with
// several, so pushguard must not forward one of them as if it were the
// tenant. (Over HTTP Mimir takes the first X-Scope-OrgID header, and so
// does pushguard.)
func tenantOf(ctx context.Context, auth validator.AuthConfig) (string, error) {
	orgIDs := metadata.ValueFromIncomingContext(ctx, upstream.OrgIDMetadataKey)
	if auth.MultitenancyEnabled && len(orgIDs) > 1 {
		return "", validator.NewError(validator.ErrIDInvalidTenant, validator.CauseUnauthorized, nil,
			"%d values of metadata %s, want exactly one tenant", len(orgIDs), upstream.OrgIDMetadataKey)
	}
	var orgID string
	if len(orgIDs) == 1 {
		orgID = orgIDs[0]
	}
	return auth.TenantFrom(orgID, "metadata "+upstream.OrgIDMetadataKey)
}

// peerHost returns the address of the client without its port, as the
// HTTP side reports senders.
func peerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		return p.Addr.String()
	}
	return host
}

func first(ctx context.Context, key string) string {
	if v := metadata.ValueFromIncomingContext(ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}
