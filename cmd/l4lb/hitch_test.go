package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"github.com/l4lb/l4lb/internal/testutil"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/l4lb/l4lb/tools/echobackend"
	"github.com/l4lb/l4lb/tools/loadgen"
)

// seenHeaders records, per backend, the X-Forwarded-For and
// X-Forwarded-Proto values of every request a backend received.
type seenHeaders struct {
	mu   sync.Mutex
	reqs []seenRequest
}

type seenRequest struct{ backend, path, xff, xfp string }

func (s *seenHeaders) wrap(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, seenRequest{name, r.URL.Path, strings.Join(r.Header.Values("X-Forwarded-For"), ","), strings.Join(r.Header.Values("X-Forwarded-Proto"), ",")})
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// selfSigned writes a PEM file with a fresh key and a certificate for
// 127.0.0.1 (hitch's format: key and certificate in one file) and returns
// a pool that trusts it.
func selfSigned(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "l4lb test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemData := append(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	if err := os.WriteFile(path, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// startHitch runs hitch terminating TLS on a loopback port and speaking
// PROXY v2 to backend; it returns the TLS address.
func startHitch(t *testing.T, backend string, pemFile string) string {
	t.Helper()
	hitch, err := exec.LookPath("hitch")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/hitch"); serr != nil {
			t.Skipf("hitch not installed (.ci/run installs it): %v", err)
		}
		hitch = "/usr/sbin/hitch"
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	host, port, _ := net.SplitHostPort(backend)
	args := []string{"--frontend=[127.0.0.1]:" + addr[len("127.0.0.1:"):], "--backend=[" + host + "]:" + port,
		"--write-proxy-v2=on", "--log-level=1"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=nobody") // hitch will not run its workers as root
	}
	var out testutil.Buffer
	cmd := exec.Command(hitch, append(args, pemFile)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start hitch: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("hitch output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("hitch not listening on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond) // another process binds it; nothing signals it
	}
}

// TestBehindHitch: hitch terminates TLS and speaks PROXY v2 to l4lb
// (--accept-proxy --forwarded-for) in front of three SockJS backends. 20
// xhr-polling sessions over HTTPS, sharing two keep-alive connections as
// a browser's tabs do, each stay on one backend for every request; every
// request reaches its backend with X-Forwarded-For naming the client's
// address (not hitch's) and X-Forwarded-Proto: https.
func TestBehindHitch(t *testing.T) {
	seen := &seenHeaders{}
	var eps []string
	for _, name := range []string{"a", "b", "c"} {
		srv := httptest.NewServer(seen.wrap(name, echobackend.New(name, echobackend.Options{DisconnectDelay: time.Minute})))
		t.Cleanup(srv.Close)
		eps = append(eps, "--backend", tcpEndpoint(srv.URL))
	}
	lb := startServe(t, append([]string{"--accept-proxy", "--forwarded-for"}, eps...)...)
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // hitch reads the certificate before it drops to nobody; the file stays 0600
	pemFile := filepath.Join(dir, "hitch.pem")
	pool := selfSigned(t, pemFile)
	front := startHitch(t, lb.addr, pemFile)

	// The client connects from 127.0.0.2, so its address differs from
	// hitch's (127.0.0.1), which l4lb sees as the TCP peer.
	dialer := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:     dialer.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: pool},
		MaxConnsPerHost: 2, MaxIdleConnsPerHost: 2,
	}}
	post := func(path, body string) (string, string, error) {
		resp, err := client.Post("https://"+front+path, "text/plain", strings.NewReader(body))
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode/100 != 2 {
			err = fmt.Errorf("POST %s: %s %q", path, resp.Status, b)
		}
		return string(b), resp.Header.Get("X-Backend"), err
	}

	const sessions, rounds = 20, 3
	var wg sync.WaitGroup
	results := make([]error, sessions)
	homes := make([]string, sessions)
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = func() error {
				path := fmt.Sprintf("/sockjs/%03d/hitch%02d", i, i)
				body, home, err := post(path+"/xhr", "")
				if err != nil || !strings.HasPrefix(body, "o") {
					return fmt.Errorf("open: %q %v", body, err)
				}
				homes[i] = home
				for r := 0; r < rounds; r++ {
					msg := fmt.Sprintf("s%d r%d", i, r)
					if _, be, err := post(path+"/xhr_send", string(loadgen.AppendSend(nil, msg))); err != nil || be != home {
						return fmt.Errorf("xhr_send %d: backend %q (home %q): %v", r, be, home, err)
					}
					body, be, err := post(path+"/xhr", "")
					if err != nil || be != home {
						return fmt.Errorf("xhr %d: backend %q (home %q): %v", r, be, home, err)
					}
					if want := echobackend.Stamp(home, msg); !strings.Contains(body, want) {
						return fmt.Errorf("xhr %d: %q; want the echo %q", r, body, want)
					}
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range results {
		if err != nil {
			t.Errorf("session %d: %v", i, err)
			continue
		}
		ok++
	}
	spread := map[string]int{}
	for _, h := range homes {
		spread[h]++
	}
	t.Logf("sticky sessions through hitch: %d/%d; sessions per backend %v", ok, sessions, spread)

	// A WebSocket upgrade through TLS carries the lines too.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc, err := (&tls.Dialer{NetDialer: dialer, Config: &tls.Config{RootCAs: pool}}).DialContext(ctx, "tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(tc, "GET /websocket HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	head := make([]byte, 12)
	if _, err := io.ReadFull(tc, head); err != nil || string(head) != "HTTP/1.1 101" {
		t.Fatalf("WebSocket through hitch: %q %v", head, err)
	}

	seen.mu.Lock()
	defer seen.mu.Unlock()
	if len(seen.reqs) < sessions*(1+2*rounds)+1 {
		t.Fatalf("backends saw %d requests; want at least %d", len(seen.reqs), sessions*(1+2*rounds)+1)
	}
	for _, r := range seen.reqs {
		if r.xff != "127.0.0.2" || r.xfp != "https" {
			t.Fatalf("backend %s got %s with X-Forwarded-For %q and X-Forwarded-Proto %q; want 127.0.0.2 and https", r.backend, r.path, r.xff, r.xfp)
		}
	}
}
