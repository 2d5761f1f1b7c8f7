package registry

import (
	"context"
	"errors"
	"slices"

	"github.com/l4lb/l4lb/affinity"
)

// Static is a fixed backend set, the same for every service.
type Static struct {
	set []affinity.Backend
}

var _ Source = (*Static)(nil)

// NewStatic returns a Source that always yields endpoints (normalized with
// NormalizeEndpoint, duplicates dropped) as Ready backends. It is an error
// if endpoints is empty or one of them is malformed.
func NewStatic(endpoints []string) (Source, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("static backends: no endpoints")
	}
	set, err := normalizeAll(endpoints)
	if err != nil {
		return nil, err
	}
	return &Static{set: set}, nil
}

// Watch calls update once with the fixed set and blocks until ctx is done.
// The service is ignored.
func (s *Static) Watch(ctx context.Context, service string, update func([]affinity.Backend)) error {
	update(slices.Clone(s.set))
	<-ctx.Done()
	return nil
}
