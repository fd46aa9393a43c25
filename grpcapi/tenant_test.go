package grpcapi

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/pushguard/pushguard/validator"
)

func TestMetaOfTenant(t *testing.T) {
	multi := validator.AuthConfig{MultitenancyEnabled: true}
	single := validator.AuthConfig{NoAuthTenant: "anonymous"}
	for name, tc := range map[string]struct {
		auth    validator.AuthConfig
		orgIDs  []string
		tenant  string
		code    codes.Code
		message string
	}{
		"one value":  {auth: multi, orgIDs: []string{"team-a"}, tenant: "team-a"},
		"no value":   {auth: multi, code: codes.Unauthenticated, message: "no tenant: set metadata x-scope-orgid (err-pushguard-missing-tenant)"},
		"bad value":  {auth: multi, orgIDs: []string{"a/../b"}, code: codes.Unauthenticated, message: "(err-pushguard-invalid-tenant)"},
		"two values": {auth: multi, orgIDs: []string{"team-a", "team-b"}, code: codes.Unauthenticated, message: "2 values of metadata x-scope-orgid, want exactly one tenant (err-pushguard-invalid-tenant)"},
		// As Mimir with -auth.multitenancy-enabled=false, the metadata is
		// not read at all.
		"two values, multitenancy disabled": {auth: single, orgIDs: []string{"team-a", "team-b"}, tenant: "anonymous"},
	} {
		t.Run(name, func(t *testing.T) {
			md := metadata.MD{}
			for _, id := range tc.orgIDs {
				md.Append("x-scope-orgid", id)
			}
			meta, err := metaOf(metadata.NewIncomingContext(context.Background(), md), tc.auth)
			if tc.message == "" {
				require.NoError(t, err)
				require.Equal(t, tc.tenant, meta.Tenant)
				return
			}
			st := status.Convert(statusError(err))
			require.Equal(t, tc.code, st.Code())
			require.Contains(t, st.Message(), tc.message)
		})
	}
}
