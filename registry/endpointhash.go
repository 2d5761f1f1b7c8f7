package registry

import (
	"crypto/sha1"
	"encoding/hex"
)

// EndpointHash is meteorhacks:cluster's endpointHash of an endpoint URL as
// an instance registers it ("http://10.0.0.5:3000"): the SHA-1 of the URL,
// in lowercase hex. The /cluster-ddp/<endpointHash>/<service>/ routes of
// apps still running the package name their instance by it.
func EndpointHash(endpoint string) string {
	sum := sha1.Sum([]byte(endpoint))
	return hex.EncodeToString(sum[:])
}
