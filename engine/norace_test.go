//go:build linux && !race

package engine

const raceEnabled = false
