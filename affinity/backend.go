package affinity

import "fmt"

// State is a backend's place in the rotation.
type State uint8

const (
	// Ready backends receive keyed and keyless traffic.
	Ready State = iota
	// Draining backends keep the keyed sessions the table gives them but
	// receive no new keyless connections.
	Draining
	// Down backends receive nothing; they are left out of every table.
	Down
)

// String returns "ready", "draining" or "down".
func (s State) String() string {
	switch s {
	case Ready:
		return "ready"
	case Draining:
		return "draining"
	case Down:
		return "down"
	}
	return "unknown"
}

// DefaultWeight is the weight of a backend whose Weight is zero.
const DefaultWeight = 1

// Backend is one instance that can receive connections.
type Backend struct {
	// Endpoint is the backend's stable identity and where to dial it, in
	// canonical form: "tcp://host:port" or "unix:/absolute/path".
	// Two backends with the same Endpoint are the same backend.
	Endpoint string
	// Weight is the backend's relative share of traffic. If zero,
	// DefaultWeight is used. Negative weights are invalid.
	Weight int
	// State is Ready, Draining or Down.
	State State
	// ProxyProtocol is the PROXY protocol header the data plane writes at
	// the start of this backend's connections. ProxyDefault (the zero
	// value) leaves it to the data plane's own setting. affinity only
	// carries it (registry reads it from a document's proxyProtocol).
	ProxyProtocol ProxyProtocol
	// EndpointHash is the instance's meteorhacks:cluster endpointHash
	// (SHA-1 hex of the endpoint URL it registered), by which
	// /cluster-ddp/<endpointHash>/<service>/ requests find it; empty when
	// unknown. affinity only carries it.
	EndpointHash string
}

// Addr splits a canonical Endpoint into the network and address that
// net.Dial takes: "tcp://10.0.0.5:3000" gives ("tcp", "10.0.0.5:3000") and
// "unix:/run/meteor.sock.1.sock" gives ("unix", "/run/meteor.sock.1.sock").
// It reports ok false for any other form.
func (b Backend) Addr() (network, address string, ok bool) {
	switch {
	case len(b.Endpoint) > len("tcp://") && b.Endpoint[:len("tcp://")] == "tcp://":
		return "tcp", b.Endpoint[len("tcp://"):], true
	case len(b.Endpoint) > len("unix:") && b.Endpoint[:len("unix:")] == "unix:":
		return "unix", b.Endpoint[len("unix:"):], true
	}
	return "", "", false
}

// ProxyProtocol selects the PROXY protocol header (haproxy's proxy-protocol
// spec, sections 2.1 and 2.2) written at the start of a backend connection.
type ProxyProtocol uint8

const (
	// ProxyDefault is the zero value: for a Backend, the balancer's own
	// setting applies; as the balancer's setting, it is ProxyOff.
	ProxyDefault ProxyProtocol = iota
	// ProxyOff writes no header.
	ProxyOff
	// ProxyV1 writes the human-readable v1 header ("PROXY TCP4 ...\r\n").
	ProxyV1
	// ProxyV2 writes the binary v2 header.
	ProxyV2
)

// ParseProxyProtocol reads the spelling used by flags, backends files and
// discovery documents: exactly "off", "v1" or "v2", or "" for
// ProxyDefault. Any other value is an error that names it.
func ParseProxyProtocol(s string) (ProxyProtocol, error) {
	switch s {
	case "":
		return ProxyDefault, nil
	case "off":
		return ProxyOff, nil
	case "v1":
		return ProxyV1, nil
	case "v2":
		return ProxyV2, nil
	}
	return ProxyDefault, fmt.Errorf("proxy protocol %q: want off, v1 or v2", s)
}

// String returns "off", "v1" or "v2", which ParseProxyProtocol reads
// back, or "default" for ProxyDefault (which it reads from "").
func (p ProxyProtocol) String() string {
	switch p {
	case ProxyDefault:
		return "default"
	case ProxyOff:
		return "off"
	case ProxyV1:
		return "v1"
	case ProxyV2:
		return "v2"
	}
	return fmt.Sprintf("ProxyProtocol(%d)", uint8(p))
}
