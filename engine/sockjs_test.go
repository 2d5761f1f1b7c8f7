//go:build linux

package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/l4lb/l4lb/tools/echobackend"
)

// sockjsSession runs one xhr-polling SockJS session through client: open,
// send, receive. It returns the backend that served every request, or an
// error naming the request that went elsewhere or failed.
func sockjsSession(client *http.Client, base string, server, session int) (string, error) {
	url := fmt.Sprintf("%s%s/%03d/sess%05d", base, echobackend.Prefix, server, session)
	backend := ""
	do := func(method, u, body string, wantStatus int) (string, error) {
		req, err := http.NewRequest(method, u, strings.NewReader(body))
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", err
		}
		if resp.StatusCode != wantStatus {
			return "", fmt.Errorf("%s %s = %d %q; want %d", method, u, resp.StatusCode, b, wantStatus)
		}
		name := resp.Header.Get(echobackend.HeaderName)
		if backend != "" && name != "" && name != backend {
			return "", fmt.Errorf("%s %s served by %s; session is on %s", method, u, name, backend)
		}
		if name != "" {
			backend = name
		}
		return string(b), nil
	}
	// /info has no session: any backend may answer it.
	if _, err := do("GET", base+echobackend.Prefix+"/info", "", 200); err != nil {
		return "", err
	}
	backend = ""
	if got, err := do("POST", url+"/xhr", "", 200); err != nil || got != "o\n" {
		return "", fmt.Errorf("open = %q, %v; want o", got, err)
	}
	msg := fmt.Sprintf("hello %d", session)
	if _, err := do("POST", url+"/xhr_send", `["`+msg+`"]`, 204); err != nil {
		return "", err
	}
	got, err := do("POST", url+"/xhr", "", 200)
	if err == nil && strings.HasPrefix(got, `c[2010,`) {
		// sockjs-go detaches a finished poll asynchronously, so a poll
		// that reaches the right backend right after the previous one
		// can be told another is still open; a browser polls again.
		// A misrouted poll would get a new session ("o"), not this.
		got, err = do("POST", url+"/xhr", "", 200)
	}
	if err != nil {
		return "", err
	}
	name, echoed, ok := echobackend.Unstamp(strings.TrimSuffix(strings.TrimPrefix(got, `a["`), "\"]\n"))
	if !ok || echoed != msg || name != backend {
		return "", fmt.Errorf("receive = %q; want a[\"%s\"] from %s", got, echobackend.Stamp(backend, msg), backend)
	}
	return backend, nil
}

func startSockJSBackends(t *testing.T) []string {
	t.Helper()
	var eps []string
	for _, n := range []string{"a", "b", "c"} {
		// Meteor's 60 s disconnect delay: under -race, 200 concurrent
		// sessions can take longer than sockjs-go's default 5 s between
		// two polls.
		eps = append(eps, startHTTP(t, echobackend.New(n, echobackend.Options{DisconnectDelay: time.Minute})))
	}
	return eps
}

// TestSockJSStickiness is acceptance 1: 200 polling sessions against three
// real sockjs-go servers, each session on one backend, spread over all.
func TestSockJSStickiness(t *testing.T) {
	const sessions = 200
	eps := startSockJSBackends(t)
	s := startServer(t, Config{Balancer: newBalancer(t, eps...)})
	base := "http://" + s.Addrs()[0].String()

	// The control: the real server answers a misrouted xhr_send with 404,
	// so a session on the wrong backend cannot go unnoticed below.
	direct := "http://" + strings.TrimPrefix(eps[0], "tcp://")
	if _, err := sockjsSession(http.DefaultClient, direct, 0, 999999); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(strings.Replace(direct, strings.TrimPrefix(eps[0], "tcp://"), strings.TrimPrefix(eps[1], "tcp://"), 1)+
		echobackend.Prefix+"/000/sess999999/xhr_send", "text/plain", strings.NewReader(`["x"]`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("xhr_send on the wrong backend = %d; want 404", resp.StatusCode)
	}

	for k, tc := range []struct {
		name      string
		transport *http.Transport
	}{
		{"fresh connection per request", &http.Transport{DisableKeepAlives: true}},
		// A browser: a few keep-alive connections shared by every
		// session (tab), requests interleaved over them.
		{"shared keep-alive pool", &http.Transport{MaxConnsPerHost: 4, MaxIdleConnsPerHost: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dials atomic.Int64
			d := &net.Dialer{}
			tc.transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return d.DialContext(ctx, network, addr)
			}
			defer tc.transport.CloseIdleConnections()
			client := &http.Client{Transport: tc.transport, Timeout: testTimeout}
			var mu sync.Mutex
			perBackend := map[string]int{}
			var wg sync.WaitGroup
			errs := make(chan error, sessions)
			for i := 0; i < sessions; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					b, err := sockjsSession(client, base, i%1000, k*sessions+i) // fresh session ids per case
					if err != nil {
						errs <- fmt.Errorf("session %d: %w", i, err)
						return
					}
					mu.Lock()
					perBackend[b]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			t.Logf("sessions per backend %v over %d connections", perBackend, dials.Load())
			if len(perBackend) != 3 {
				t.Errorf("sessions per backend = %v; want all three", perBackend)
			}
		})
	}
	if st := s.Stats(); st.Switches == 0 {
		t.Errorf("Stats().Switches = 0; the shared pool should have switched backends")
	}
}
