//go:build !linux

package engine

import (
	"errors"
	"testing"

	"github.com/l4lb/l4lb/affinity"
)

// TestNewLinuxOnly: on other systems New says the engine is Linux-only
// (cross-compile it with GOOS=darwin go test -c ./engine).
func TestNewLinuxOnly(t *testing.T) {
	_, err := New(Config{Listen: []string{"127.0.0.1:0"}, Balancer: affinity.NewBalancer()})
	if !errors.Is(err, errLinuxOnly) {
		t.Fatalf("New = %v; want %v", err, errLinuxOnly)
	}
}
