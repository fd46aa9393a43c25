package grpcapi

import (
	"context"
	"net"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

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
	return validator.Meta{Tenant: tenant, UserAgent: first(ctx, "user-agent"), RemoteAddr: peerHost(ctx), Time: time.Now()}, nil
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
