package affinity

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// MaxOverlayWeight is the largest weight SetWeight takes, the range of
// HAProxy's "set weight".
const MaxOverlayWeight = 256

// ErrUnknownBackend is wrapped by the errors of Drain and SetWeight for an
// endpoint that is not in the discovered set.
var ErrUnknownBackend = errors.New("unknown backend")

// Overlay is a runtime change to one backend, made by an operator through
// Drain or SetWeight and laid over what discovery says. An overlay lasts
// until it is undone (Undrain, ResetWeight) or the process ends: it is
// kept in memory only, survives every Update (also while its endpoint is
// gone from the set, so that a backend that flaps stays drained), and a
// restarted balancer starts without it.
//
// The zero Overlay changes nothing.
type Overlay struct {
	// Drained reports whether the backend is drained: a backend discovery
	// calls Ready is Draining instead. A Down backend stays Down.
	Drained bool
	// Weight, when WeightSet, replaces the discovered weight. Weight 0
	// drains the backend, as HAProxy's weight 0 does (no new keyless
	// traffic), and leaves the discovered weight in the table so that the
	// sessions it holds stay.
	Weight    int
	WeightSet bool
}

// draining reports whether o makes a Ready backend Draining.
func (o Overlay) draining() bool { return o.Drained || o.WeightSet && o.Weight == 0 }

// apply returns b with o laid over it.
func (o Overlay) apply(b Backend) Backend {
	if o.WeightSet && o.Weight > 0 {
		b.Weight = o.Weight
	}
	if o.draining() && b.State == Ready {
		b.State = Draining
	}
	return b
}

// Drain drains the backend with this endpoint, whatever discovery says
// about it until Undrain: it keeps the keyed sessions the table gives it,
// takes no new keyless connection (see Draining), and the table is not
// rebuilt, so no session moves. The new snapshot is in place when Drain
// returns. It returns an error wrapping ErrUnknownBackend if the endpoint
// is not in the discovered set.
func (b *Balancer) Drain(endpoint string) error {
	return b.change(endpoint, true, func(o *Overlay) { o.Drained = true })
}

// Undrain undoes Drain: the backend is in the state discovery gives it.
// Undraining a backend that is not drained does nothing.
func (b *Balancer) Undrain(endpoint string) error {
	return b.change(endpoint, false, func(o *Overlay) { o.Drained = false })
}

// SetWeight sets the backend's weight to w in [0, MaxOverlayWeight] until
// ResetWeight, in place of the discovered weight; 0 drains it (see
// Overlay.Weight). A weight other than the table's rebuilds the table,
// which moves sessions as a discovery change of weight would. It returns
// an error wrapping ErrUnknownBackend if the endpoint is not in the
// discovered set.
func (b *Balancer) SetWeight(endpoint string, w int) error {
	if w < 0 || w > MaxOverlayWeight {
		return fmt.Errorf("affinity: backend %s: weight %d outside [0, %d]", endpoint, w, MaxOverlayWeight)
	}
	return b.change(endpoint, true, func(o *Overlay) { o.Weight, o.WeightSet = w, true })
}

// ResetWeight undoes SetWeight: the backend has its discovered weight.
func (b *Balancer) ResetWeight(endpoint string) error {
	return b.change(endpoint, false, func(o *Overlay) { o.Weight, o.WeightSet = 0, false })
}

// Overlays returns a copy of the overlays in force, by endpoint.
func (b *Balancer) Overlays() map[string]Overlay {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.overlays)
}

// Discovered returns a copy of the set the last successful Update was
// given, without overlays, in the order given.
func (b *Balancer) Discovered() []Backend {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.discovered)
}

// change edits endpoint's overlay and swaps in the snapshot it gives.
// known requires the endpoint to be in the discovered set.
func (b *Balancer) change(endpoint string, known bool, edit func(*Overlay)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if known && !slices.ContainsFunc(b.discovered, func(d Backend) bool { return d.Endpoint == endpoint }) {
		return fmt.Errorf("affinity: backend %s: %w", endpoint, ErrUnknownBackend)
	}
	o := b.overlays[endpoint]
	before := o
	edit(&o)
	if o == before {
		return nil
	}
	if o == (Overlay{}) {
		delete(b.overlays, endpoint)
	} else {
		if b.overlays == nil {
			b.overlays = make(map[string]Overlay)
		}
		b.overlays[endpoint] = o
	}
	// The discovered set was accepted, and overlays keep it valid.
	return b.swap(b.discovered)
}

// overlaid returns a copy of backends with the overlays applied.
func (b *Balancer) overlaid(backends []Backend) []Backend {
	out := slices.Clone(backends)
	for i, d := range out {
		if o, ok := b.overlays[d.Endpoint]; ok {
			out[i] = o.apply(d)
		}
	}
	return out
}
