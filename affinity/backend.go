package affinity

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
	// ProxyProtocol overrides for this backend the PROXY protocol header
	// the data plane writes at the start of its connections: "off", "v1"
	// or "v2"; empty means the data plane's own setting. affinity only
	// carries it (registry reads it from a document's proxyProtocol).
	ProxyProtocol string
}

// proxyProtocolValid reports whether p is a value Backend.ProxyProtocol
// may hold.
func proxyProtocolValid(p string) bool {
	switch p {
	case "", "off", "v1", "v2":
		return true
	}
	return false
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
