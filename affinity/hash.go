package affinity

import "github.com/cespare/xxhash/v2"

// HashKey returns the 64-bit hash of a session key (a SockJS session id, a
// sticky cookie value) that Lookup and Candidates take.
//
// It is XXH64 with seed 0 (github.com/cespare/xxhash/v2), the same on every
// process, machine, architecture and version of this package. Together with
// the table layout (see the package documentation) it is a compatibility
// promise: balancers of different versions running side by side must send a
// session to the same backend. A change to either is a breaking change and
// fails the golden vectors in testdata.
func HashKey(key []byte) uint64 { return xxhash.Sum64(key) }

// mix64 is the SplitMix64 finalizer (Steele, Lea, Flood, "Fast splittable
// pseudorandom number generators", 2014): a bijection on uint64 whose output
// bits each depend on every input bit. It derives independent-looking values
// from one xxhash without hashing the endpoint again.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
