package grpcapi

import (
	"context"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/pushguard/pushguard/upstream"
	"github.com/pushguard/pushguard/validator"
)

// metaOf resolves the tenant of a call from metadata x-scope-orgid, as
// Mimir does, and returns what the validator records about the caller.
func metaOf(ctx context.Context, auth validator.AuthConfig) (validator.Meta, error) {
	tenant, err := auth.Tenant(first(ctx, upstream.OrgIDMetadataKey))
	if err != nil {
		return validator.Meta{}, err
	}
	return validator.Meta{Tenant: tenant, UserAgent: first(ctx, "user-agent"), Time: time.Now()}, nil
}

func first(ctx context.Context, key string) string {
	if v := metadata.ValueFromIncomingContext(ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}
