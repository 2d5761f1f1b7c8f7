// Package registrytest runs a real MongoDB wire server for tests: a fresh
// tools/devmongo (FerretDB over SQLite) per test, on a free loopback port
// with its own data directory, or, when the environment variable
// L4LB_TEST_MONGODB_URL names a real MongoDB, a fresh database on it.
//
// devmongo is built once per test binary, so a package using it needs
//
//	func TestMain(m *testing.M) { os.Exit(registrytest.Main(m)) }
//
// The first build downloads FerretDB's modules (see tools/devmongo) and
// takes a few minutes; later ones come from the build cache.
package registrytest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// EnvURL names a real MongoDB to test against instead of devmongo.
const EnvURL = "L4LB_TEST_MONGODB_URL"

// BuildTimeout bounds the build of devmongo.
const BuildTimeout = 10 * time.Minute

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// Main runs the tests and removes the devmongo binary afterwards.
func Main(m *testing.M) int {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	return code
}

// Server is one MongoDB for one test.
type Server struct {
	// URL is the connection string, with the test's own database as path.
	URL string
	// Database is the test's database.
	Database string
	// Real reports whether this is a real MongoDB (from EnvURL), which
	// cannot be stopped by the test and supports change streams only if it
	// is a replica set.
	Real bool

	addr, dir string
	cmd       *exec.Cmd
	exited    chan struct{}
	t         testing.TB
}

// NewServer starts a server for t and stops it when t ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	db := "l4lbtest_" + randomHex(6)
	if u := os.Getenv(EnvURL); u != "" {
		s := &Server{URL: withDatabase(u, db), Database: db, Real: true, t: t}
		t.Cleanup(func() { dropDatabase(t, s.URL, db) })
		return s
	}
	bin := devmongo(t)
	s := &Server{Database: db, dir: t.TempDir(), t: t}
	s.start(bin, "127.0.0.1:0")
	s.URL = "mongodb://" + s.addr + "/" + db
	t.Cleanup(func() { s.stop() })
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Stop stops the server (SIGTERM) and waits for it to exit. The test
// fails if the server is a real MongoDB.
func (s *Server) Stop() {
	s.t.Helper()
	if s.Real {
		s.t.Fatal("registrytest: cannot stop a real MongoDB")
	}
	s.stop()
}

// Restart starts the stopped server again on the same port with the same
// data.
func (s *Server) Restart() {
	s.t.Helper()
	if s.Real {
		s.t.Fatal("registrytest: cannot restart a real MongoDB")
	}
	s.start(devmongo(s.t), s.addr)
}

func (s *Server) start(bin, addr string) {
	s.t.Helper()
	cmd := exec.Command(bin, "-data", s.dir, "-listen", addr)
	cmd.SysProcAttr = childProcAttr()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start devmongo: %v", err)
	}
	exited := make(chan struct{})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() { // keep the pipe drained
		}
	}()
	go func() { cmd.Wait(); close(exited) }()
	select {
	case l, ok := <-line:
		got, found := strings.CutPrefix(l, "listening ")
		if !ok || !found {
			cmd.Process.Kill()
			<-exited
			s.t.Fatalf("devmongo -listen %s: first line %q; stderr: %s", addr, l, stderr.String())
		}
		s.addr = got
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		s.t.Fatalf("devmongo -listen %s: not listening after 30s; stderr: %s", addr, stderr.String())
	}
	s.cmd, s.exited = cmd, exited
}

func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// devmongo builds tools/devmongo once per test binary.
func devmongo(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "l4lb-devmongo-")
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(buildDir, "devmongo")
		ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-C", filepath.Join(root, "tools", "devmongo"), "-o", bin, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build tools/devmongo: %v\n%s", err, out)
			return
		}
		buildBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// moduleRoot finds the directory of the l4lb go.mod above the working
// directory (go test runs in the package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/l4lb/l4lb\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("registrytest: no github.com/l4lb/l4lb go.mod above the working directory")
		}
		dir = parent
	}
}

// withDatabase replaces the database of a MongoDB URL, keeping the hosts
// and options (the host list may hold commas, which net/url rejects).
func withDatabase(u, db string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	hosts, path, _ := strings.Cut(rest, "/")
	_, query, hasQuery := strings.Cut(path, "?")
	out := scheme + "://" + hosts + "/" + db
	if hasQuery {
		out += "?" + query
	}
	return out
}

// dropDatabase removes a test's database from a real MongoDB.
func dropDatabase(t testing.TB, url, db string) {
	client, err := mongo.Connect(options.Client().ApplyURI(url))
	if err != nil {
		t.Logf("registrytest: drop %s: %v", db, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer client.Disconnect(ctx)
	if err := client.Database(db).Drop(ctx); err != nil {
		t.Logf("registrytest: drop %s: %v", db, err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
