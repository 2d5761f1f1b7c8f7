//go:build !linux

package affinity

// hugePageShare is -1: only Linux says.
func hugePageShare(*sessionTable) float64 { return -1 }
