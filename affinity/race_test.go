//go:build race

package affinity

// raceEnabled reports whether the race detector is on; the heavy sweeps
// scale down under it to keep `go test -race` within the CI budget.
const raceEnabled = true
