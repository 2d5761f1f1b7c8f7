package registry

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/l4lb/l4lb/affinity"
)

// fakeSource is a Source the test drives one report at a time.
type fakeSource struct {
	reports chan fakeReport
	stopped chan struct{} // closed when Watch returns
}

// fakeReport is handed to update, or returned by Watch if err is set;
// done is closed after that, so the test knows update has returned.
type fakeReport struct {
	set  []affinity.Backend
	err  error
	done chan struct{}
}

func newFakeSource() *fakeSource {
	return &fakeSource{reports: make(chan fakeReport), stopped: make(chan struct{})}
}

func (f *fakeSource) Watch(ctx context.Context, service string, update func([]affinity.Backend)) error {
	defer close(f.stopped)
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-f.reports:
			if r.err != nil {
				close(r.done)
				return r.err
			}
			update(r.set)
			close(r.done)
		}
	}
}

func TestMerged(t *testing.T) {
	a, b, c := affinity.Backend{Endpoint: "tcp://a:1"}, affinity.Backend{Endpoint: "tcp://b:1"}, affinity.Backend{Endpoint: "tcp://c:1"}
	aHeavy := affinity.Backend{Endpoint: "tcp://a:1", Weight: 5, State: affinity.Draining}
	aProxy := affinity.Backend{Endpoint: "tcp://a:1", ProxyProtocol: affinity.ProxyV2}
	errGone := errors.New("source gone")
	set := func(bs ...affinity.Backend) []affinity.Backend { return append([]affinity.Backend{}, bs...) }

	// step is one source's report and what Merged publishes after it:
	// nil for nothing, an empty set for an empty publication.
	type step struct {
		src  int
		set  []affinity.Backend
		err  error
		want []affinity.Backend
	}
	tests := []struct {
		name    string
		sources int
		steps   []step
		wantErr error
	}{
		{"no sources", 0, nil, nil},
		{"one source passes through", 1, []step{
			{src: 0, set: set(a), want: set(a)},
			{src: 0, set: set(a, b), want: set(a, b)},
			{src: 0, set: set(), want: set()},
		}, nil},
		{"waits until every source reported", 3, []step{
			{src: 0, set: set(a)},
			{src: 2, set: set(c)},
			{src: 0, set: set(a, b)},
			{src: 1, set: set(), want: set(a, b, c)},
			{src: 0, set: set(), want: set(c)},
		}, nil},
		{"union is sorted", 2, []step{
			{src: 0, set: set(c)},
			{src: 1, set: set(a, b), want: set(a, b, c)},
		}, nil},
		{"first source wins a disagreement", 2, []step{
			{src: 1, set: set(aProxy, b)},
			{src: 0, set: set(aHeavy), want: set(aHeavy, b)},
			{src: 0, set: set(), want: set(aProxy, b)},
		}, nil},
		{"unchanged union is not published again", 2, []step{
			{src: 0, set: set(a)},
			{src: 1, set: set(a), want: set(a)},
			{src: 1, set: set()},
			{src: 1, set: set(b), want: set(a, b)},
		}, nil},
		{"every source empty publishes an empty set", 2, []step{
			{src: 0, set: set()},
			{src: 1, set: set(), want: set()},
		}, nil},
		{"a failing source stops the others", 3, []step{
			{src: 0, set: set(a)},
			{src: 1, set: set(b)},
			{src: 2, err: errGone},
		}, errGone},
		{"a source failing after the first set", 2, []step{
			{src: 0, set: set(a)},
			{src: 1, set: set(b), want: set(a, b)},
			{src: 0, err: errGone},
		}, errGone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakes := make([]*fakeSource, tt.sources)
			sources := make([]Source, tt.sources)
			for i := range fakes {
				fakes[i] = newFakeSource()
				sources[i] = fakes[i]
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			updates := make(chan []affinity.Backend, len(tt.steps)+1)
			done := make(chan error, 1)
			go func() {
				done <- NewMerged(sources...).Watch(ctx, "web", func(s []affinity.Backend) { updates <- s })
			}()

			for n, st := range tt.steps {
				r := fakeReport{set: st.set, err: st.err, done: make(chan struct{})}
				select {
				case fakes[st.src].reports <- r:
				case <-time.After(patience):
					t.Fatalf("step %d: source %d not watching within %v", n, st.src, patience)
				}
				select {
				case <-r.done:
				case <-time.After(patience):
					t.Fatalf("step %d: update of source %d did not return within %v", n, st.src, patience)
				}
				var got []affinity.Backend
				select {
				case got = <-updates:
				default:
				}
				if !slices.Equal(got, st.want) || (got == nil) != (st.want == nil) {
					t.Fatalf("step %d (source %d reports %v): published %v; want %v", n, st.src, st.set, got, st.want)
				}
				for i := range got { // update owns its slice: scribbling must not reach Merged
					got[i] = affinity.Backend{Endpoint: "tcp://scribbled:1"}
				}
			}

			if tt.wantErr == nil {
				cancel()
			}
			select {
			case err := <-done:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Merged.Watch = %v; want %v", err, tt.wantErr)
				}
			case <-time.After(patience):
				t.Fatalf("Merged.Watch did not return within %v", patience)
			}
			for i, f := range fakes {
				select {
				case <-f.stopped:
				default:
					t.Errorf("source %d still watching after Merged.Watch returned", i)
				}
			}
			select {
			case s := <-updates:
				t.Errorf("published %v after the last step; want nothing", s)
			default:
			}
		})
	}
}
