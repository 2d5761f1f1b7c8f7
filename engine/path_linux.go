package engine

// dataPath is how a tunnel, and an HTTP body from Server.bodySpliceMin bytes on,
// moves bytes.
type dataPath uint8

const (
	// pathSplice: splice(2) through a pipe borrowed while bytes are in
	// flight.
	pathSplice dataPath = iota
	// pathBuffer: read(2)/write(2) through a pooled buffer, as HTTP heads
	// and small bodies always do.
	pathBuffer
)

// defaultDataPath is the tunnel data path (see doc.go, "Data path and memory bounds").
// Tests and benchmarks override Server.path.
const defaultDataPath = pathSplice
