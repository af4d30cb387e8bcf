// Package naming names the objects the operator creates, in one place, so that every
// controller and test agrees on them.
package naming

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
)

// Objects in each workspace namespace.
const (
	// WorkloadServiceAccount runs every warehouse and model pod; it never automounts a token.
	WorkloadServiceAccount = "workspace-workload"
	// ResourceQuota holds the workspace's spec.resourceQuota.
	ResourceQuota = "workspace-quota"
	// LimitRange holds the workspace's spec.defaultContainerResources.
	LimitRange = "workspace-defaults"
	// AdminsRoleBinding binds spec.admins to WorkspaceAdminClusterRole.
	AdminsRoleBinding = "workspace-admins"
	// CABundle is the ConfigMap with the operator CA's certificate, for the gateway's
	// BackendTLSPolicy.
	CABundle = "serverlessplane-ca-bundle"
)

// Cluster-wide roles installed with the operator (config/rbac).
const (
	// WorkspaceAdminClusterRole manages warehouses and endpoints and reads events.
	WorkspaceAdminClusterRole = "serverlessplane-workspace-admin"
)

// Objects in the operator namespace.
const (
	// CASecret holds the operator CA's key and certificate.
	CASecret = "serverlessplane-ca"
	// GatewayClientSecret holds the gateway's client certificate for mTLS to model servers.
	GatewayClientSecret = "serverlessplane-gateway-client"
	// GatewayServingSecret holds the gateway's serving certificate, for its Service and host names.
	GatewayServingSecret = "serverlessplane-gateway-tls"
	// GatewayService fronts the gateway pods: the control plane's front door.
	GatewayService = "serverlessplane-gateway"
	// QuotaLedgerPrefix prefixes the per-region ConfigMaps with the serverless capacity
	// every warehouse of the region holds.
	QuotaLedgerPrefix = "serverlessplane-quota-"
)

// PrivateEndpointService names a private endpoint rule's Service.
func PrivateEndpointService(rule string) string { return "pe-" + rule }

// WarehouseCluster names a warehouse cluster's Deployment.
func WarehouseCluster(warehouse, id string) string { return fmt.Sprintf("%s-%s", warehouse, id) }

// ServedEntity names a served entity's Deployment, Service and BackendTLSPolicy:
// <endpoint>-<entity>-<hash> (see Child). Both names may hold '-', so joining them alone is
// ambiguous (endpoint a-b with entity c, and endpoint a with entity b-c); the hash tells them
// apart.
func ServedEntity(endpoint, entity string) string { return Child(endpoint, entity) }

// ServingCertificate names the Secret with an endpoint's serving certificate. Its suffix is
// not one a warehouse's certificate can end with (see WarehouseCertificate), so an endpoint
// and a warehouse never name the same Secret.
func ServingCertificate(endpoint string) string { return endpoint + "-serving-tls" }

// WarehouseCertificate names the Secret with a warehouse's serving certificate, for its
// Service's names.
func WarehouseCertificate(warehouse string) string { return warehouse + "-sql-tls" }

// hashLen is the length of the hash Child appends: 8 hex digits, 32 bits.
const hashLen = 8

// Child names an object derived from several names: their readable join, cut to leave room,
// then '-' and the Hash of the parts as a list, which tells apart parts that join alike. The
// result is a DNS label of at most 63 characters that starts as parts[0] does.
func Child(parts ...string) string {
	readable := strings.Join(parts, "-")
	if room := 63 - 1 - hashLen; len(readable) > room {
		readable = strings.TrimRight(readable[:room], "-")
	}
	return readable + "-" + Hash(parts, hashLen)
}

// QuotaLedger names a region's quota total.
func QuotaLedger(region string) string { return QuotaLedgerPrefix + region }

// QuotaReservation names the ConfigMap with a warehouse's share of its region's quota, in the
// operator namespace.
func QuotaReservation(namespace, warehouse string) string {
	return Child("serverlessplane-reservation", namespace, warehouse)
}

// Hash is a short, stable hash of v's JSON, n hex digits long (at most 16), for names and
// labels that change when a template does.
func Hash(v any, n int) string {
	data, _ := json.Marshal(v)
	h := fnv.New64a()
	_, _ = h.Write(data)
	return fmt.Sprintf("%016x", h.Sum64())[:min(n, 16)]
}
