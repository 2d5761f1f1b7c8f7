//go:build linux && race

package engine

// raceEnabled scales the heaviest tests down under the race detector,
// which multiplies memory and CPU per goroutine and per access.
const raceEnabled = true
