// Package tenant says who a request acts for. A tenant is one customer: an
// AWS account and region, Huawei projects and domain, an NCP account. Until
// authentication arrives, every request acts for Default.
package tenant

import "context"

// Tenant is one customer, as each dialect names it.
type Tenant struct {
	ID               string
	AWSAccountID     string
	AWSRegion        string
	HuaweiDomainID   string
	HuaweiRegion     string
	HuaweiProjectIDs []string
}

// Default is the development tenant every request acts for until
// authentication (issue 4) identifies callers.
func Default() Tenant {
	return Tenant{
		ID:               "default",
		AWSAccountID:     "111122223333",
		AWSRegion:        "us-east-1",
		HuaweiDomainID:   "0b5f2e6e4f0b4c3f9d8e7a6b5c4d3e2f",
		HuaweiRegion:     "cn-north-4",
		HuaweiProjectIDs: []string{"0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f"},
	}
}

type ctxKey struct{}

// With returns a context that carries t.
func With(ctx context.Context, t Tenant) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}

// From returns the tenant a request acts for.
func From(ctx context.Context) (Tenant, bool) {
	t, ok := ctx.Value(ctxKey{}).(Tenant)
	return t, ok
}
