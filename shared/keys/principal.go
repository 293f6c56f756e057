package keys

// Principal is who asks: an authenticated caller as the verifiers know it.
// The domain decides with it (which tenant's keys, which policy applies)
// and records it with every change.
type Principal struct {
	Tenant    string // the tenant's id: whose keys
	Dialect   string // which API it called: "aws", "huawei", "ncp", or "system" for the service's own work
	AccessKey string // the access key id, or "token:<id>" for a Huawei token; never a secret
	Source    string // the caller's network address
	RequestID string
	// Policy is the tenant's deletion policy as it applies to this caller;
	// it is decided with, never recorded.
	Policy Policy
}

// SystemDialect is the Dialect of the service acting on its own.
const SystemDialect = "system"

// System is the service acting on its own (the final deletion of a key
// whose window has ended) for a tenant; Source then names the path (the
// stream, the sweep, the local loop).
func System(tenant, requestID string) Principal {
	return Principal{Tenant: tenant, Dialect: SystemDialect, RequestID: requestID}
}
