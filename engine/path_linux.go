package engine

// dataPath is how a tunnel moves bytes.
type dataPath uint8

const (
	// pathSplice: splice(2) through a pipe borrowed while bytes are in
	// flight.
	pathSplice dataPath = iota
	// pathBuffer: read(2)/write(2) through a pooled buffer, as HTTP
	// traffic always does.
	pathBuffer
)

// defaultDataPath is the tunnel data path (see doc.go, "Data path and memory bounds").
// Tests and benchmarks override Server.path.
const defaultDataPath = pathSplice
