package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	mopts "go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The -services check: one l4lb in front of three services registered in
// devmongo as meteorhacks:cluster documents. web (A, B, C) is the default,
// api (D, E; SockJS under /sockjs and /api/sockjs, as an app with
// ROOT_URL_PATH_PREFIX=/api) is public and reached by Host and by path,
// jobs (J) is private. Node sockjs-client sessions run on web by default,
// on api by Host and on api by path; then every way of naming jobs (Host,
// path, /cluster-ddp/<jobs-hash>/jobs/..., SNI) must get 404 or a closed
// connection, and J's log, which records every TCP connection it accepts,
// must stay empty.

// serviceWay is one way of reaching a service: the SockJS URL, and the
// backends that may serve it.
type serviceWay struct {
	name, url string
	backends  []string
}

// Hosts the client resolves to 127.0.0.1 (js/client.js cfg.hosts).
const (
	webHost  = "www.l4lb.test"
	apiHost  = "api.l4lb.test"
	jobsHost = "jobs.l4lb.test"
)

// servicesResult is what the -services check measured.
type servicesResult struct {
	// sessions: way -> transport -> result.
	sessions map[string]map[string]*clientResult
	// jobsAttempts: attempt -> outcome ("404", "closed", or what else).
	jobsAttempts [][2]string
	// jobsLog is what the jobs instance logged: empty when nothing
	// reached it.
	jobsLog []string
	ways    []string
}

// ok reports whether every session completed on its service and jobs
// was never reached.
func (r *servicesResult) ok() bool {
	for _, byT := range r.sessions {
		for _, c := range byT {
			if c.Completed != c.Sessions {
				return false
			}
		}
	}
	for _, a := range r.jobsAttempts {
		if a[1] != "404" && a[1] != "closed" {
			return false
		}
	}
	return len(r.jobsLog) == 0 && len(r.sessions) > 0
}

func (r *servicesResult) print(transports []string) {
	fmt.Printf("\n| way | %s |\n|%s\n", strings.Join(transports, " | "), strings.Repeat("---|", len(transports)+1))
	for _, w := range r.ways {
		cells := []string{w}
		for _, t := range transports {
			if c := r.sessions[w][t]; c != nil {
				cells = append(cells, fmt.Sprintf("%d/%d", c.Completed, c.Sessions))
			} else {
				cells = append(cells, "-")
			}
		}
		fmt.Printf("| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Println()
	for _, a := range r.jobsAttempts {
		fmt.Printf("jobs via %-50s %s\n", a[0], a[1])
	}
	fmt.Printf("jobs instance saw %d connections or requests\n", len(r.jobsLog))
}

// runServicesMode runs the -services check and returns the exit status:
// 0 when it holds, 1 when it does not, 2 when it could not run.
func runServicesMode(o options) int {
	ctx, done := checkContext(o)
	defer done()
	var ps procs
	defer ps.killAll()
	c := &check{o: o, ps: &ps}
	r, err := c.runServices(ctx)
	if r != nil {
		r.print(o.transports)
	}
	if c.failed(err) {
		return 2
	}
	if !r.ok() {
		fmt.Fprintln(os.Stderr, "sockjscheck -services: a session failed or jobs was reached")
		return 1
	}
	return 0
}

func (c *check) runServices(ctx context.Context) (*servicesResult, error) {
	if err := c.prepare(ctx, nil); err != nil {
		return nil, err
	}
	mongoURL, err := c.startDevmongo(ctx)
	if err != nil {
		return nil, err
	}
	type inst struct{ name, service, prefixes string }
	insts := []inst{
		{"A", "web", "/sockjs"}, {"B", "web", "/sockjs"}, {"C", "web", "/sockjs"},
		{"D", "api", "/sockjs,/api/sockjs"}, {"E", "api", "/sockjs,/api/sockjs"},
		{"J", "jobs", "/sockjs"},
	}
	var docs []registration
	jobsLog := filepath.Join(c.runDir, "backend-J.requests")
	jobsHash, jobsAddr := "", ""
	for _, in := range insts {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		out := filepath.Join(c.runDir, "backend-"+in.name+".log")
		reqLog := filepath.Join(c.runDir, "backend-"+in.name+".requests")
		args := []string{filepath.Join(c.o.npmDir, "backend.js"), in.name, strconv.Itoa(port), reqLog, in.prefixes}
		if in.service == "jobs" {
			args = append(args, "conns")
		}
		cmd := exec.Command("node", args...)
		cmd.Dir = c.o.npmDir
		cmd.Env = append(os.Environ(), "NODE_ENV=production")
		if err := c.ps.start(cmd, out); err != nil {
			return nil, err
		}
		if err := waitLine(ctx, out, "READY "+in.name+" "+strconv.Itoa(port), 20*time.Second); err != nil {
			return nil, fmt.Errorf("backend %s: %w", in.name, err)
		}
		endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
		docs = append(docs, registration{in.service, endpoint})
		if in.service == "jobs" {
			jobsHash, jobsAddr = endpointHash(endpoint), "127.0.0.1:"+strconv.Itoa(port)
		}
	}
	stop, err := heartbeatDocs(ctx, mongoURL, docs)
	if err != nil {
		return nil, err
	}
	defer stop()

	bin, err := c.buildL4LB(ctx)
	if err != nil {
		return nil, err
	}
	addr, _, err := c.runL4LB(ctx, bin, "l4lb.log", []string{
		"--loops", "1", "--log-level", c.o.l4lbLogLevel,
		"--discovery", mongoURL, "--discovery-poll", "200ms",
		"--service", "web", "--public-services", "api",
		"--route", "host=" + apiHost + ",service=api",
		"--route", "path=/api,service=api",
		"--route", "host=" + jobsHost + ",service=jobs",
		"--route", "path=/jobs,service=jobs",
		"--route", "sni=" + jobsHost + ",service=jobs",
		"--service-option", "api:sockjs-prefix=/sockjs,sockjs-prefix=/api/sockjs",
	})
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	ways := []serviceWay{
		{"web (default)", "http://" + webHost + ":" + port + "/sockjs", []string{"A", "B", "C"}},
		{"api by Host", "http://" + apiHost + ":" + port + "/sockjs", []string{"D", "E"}},
		{"api by path", "http://" + webHost + ":" + port + "/api/sockjs", []string{"D", "E"}},
	}
	if err := waitServices(ctx, addr, 30*time.Second); err != nil {
		return nil, err
	}
	r := &servicesResult{sessions: map[string]map[string]*clientResult{}}
	for _, w := range ways {
		r.ways = append(r.ways, w.name)
		r.sessions[w.name] = map[string]*clientResult{}
		for _, t := range c.o.transports {
			res, err := c.runWay(ctx, w, t)
			if err != nil {
				return r, err
			}
			r.sessions[w.name][t] = res
			fmt.Fprintf(os.Stderr, "%-14s %-14s %2d/%d  backends %v\n", w.name, t, res.Completed, res.Sessions, countNames(res.Backends))
			if len(res.Failures) > 0 {
				fmt.Fprintf(os.Stderr, "               first failure: %s\n", res.Failures[0])
			}
		}
	}
	r.jobsAttempts = jobsAttempts(addr, jobsHash)
	// A connection the balancer opened would have been logged on accept;
	// give a late one a moment.
	time.Sleep(300 * time.Millisecond)
	b, err := os.ReadFile(jobsLog)
	if err != nil && !os.IsNotExist(err) {
		return r, fmt.Errorf("read %s: %w", jobsLog, err)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		if line != "" {
			r.jobsLog = append(r.jobsLog, line)
		}
	}
	// The control: a connection that does reach J shows in its log.
	if conn, err := net.DialTimeout("tcp", jobsAddr, 5*time.Second); err == nil {
		conn.Close()
	}
	if err := waitLine(ctx, jobsLog, "J ", 10*time.Second); err != nil {
		return r, fmt.Errorf("the jobs instance's log misses a direct connection, so it proves nothing: %w", err)
	}
	return r, nil
}

// runWay runs js/client.js on one way with one transport; a session
// served by a backend of another service counts as failed.
func (c *check) runWay(ctx context.Context, w serviceWay, transport string) (*clientResult, error) {
	cfg, _ := json.Marshal(map[string]any{
		"url":              w.url,
		"transport":        transport,
		"sessions":         c.o.sessions,
		"concurrency":      c.o.concurrency,
		"messages":         c.o.messages,
		"maxSockets":       c.o.maxSockets,
		"sessionTimeoutMs": c.o.sessionTimeout.Milliseconds(),
		"hosts":            []string{webHost, apiHost},
		"traceFile":        filepath.Join(c.runDir, strings.ReplaceAll(w.name, " ", "_")+"-"+transport+".client"),
	})
	rounds := (c.o.sessions + c.o.concurrency - 1) / c.o.concurrency
	r, err := c.runNode(ctx, cfg, time.Duration(rounds)*c.o.sessionTimeout+30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%s %s (%s): %w", w.name, transport, w.url, err)
	}
	for i, b := range r.Backends {
		if b != "" && !slices.Contains(w.backends, b) {
			r.Completed--
			r.Failures = append(r.Failures, fmt.Sprintf("session %d served by %s, not one of %v", i, b, w.backends))
		}
	}
	return r, nil
}

func countNames(names []string) map[string]int {
	m := map[string]int{}
	for _, n := range names {
		if n != "" {
			m[n]++
		}
	}
	return m
}

// waitServices waits until web and api both answer their SockJS /info
// through the balancer: discovery has delivered both sets.
func waitServices(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for _, hp := range [][2]string{{webHost, "/sockjs/info"}, {apiHost, "/sockjs/info"}, {webHost, "/api/sockjs/info"}} {
		for {
			code, _ := rawStatus(addr, hp[0], hp[1])
			if code == 200 {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("l4lb %s: Host %s %s never answered 200 (last %d)", addr, hp[0], hp[1], code)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// rawStatus sends one GET with this Host on a new connection; status 0
// means the connection closed without an answer.
func rawStatus(addr, host, path string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// jobsAttempts tries every way of naming jobs and says what each got:
// "404", "closed", or anything else (a failure).
func jobsAttempts(addr, jobsHash string) [][2]string {
	var out [][2]string
	for _, hp := range [][2]string{
		{jobsHost, "/sockjs/info"},
		{jobsHost, "/"},
		{webHost, "/jobs/sockjs/info"},
		{webHost, "/cluster-ddp/" + jobsHash + "/jobs/000/abcdefgh/xhr"},
		{webHost, "/cluster-ddp/" + jobsHash + "/jobs/websocket"},
	} {
		what := "Host " + hp[0] + " " + hp[1]
		if len(what) > 50 {
			what = what[:47] + "..."
		}
		code, _ := rawStatus(addr, hp[0], hp[1])
		outcome := strconv.Itoa(code)
		if code == 0 {
			outcome = "closed"
		}
		out = append(out, [2]string{what, outcome})
	}
	// SNI: a TLS ClientHello for jobs; the balancer passes TLS through,
	// so anything but a closed connection is a failure.
	outcome := "closed"
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		outcome = "dial: " + err.Error()
	} else {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Client(c, &tls.Config{ServerName: jobsHost, InsecureSkipVerify: true})
		if err := tc.Handshake(); err == nil {
			outcome = "handshake completed"
		}
		c.Close()
	}
	out = append(out, [2]string{"SNI " + jobsHost, outcome})
	return out
}

// registration is one instance's meteorhacks:cluster document.
type registration struct{ service, endpoint string }

func endpointHash(endpoint string) string {
	sum := sha1.Sum([]byte(endpoint))
	return hex.EncodeToString(sum[:])
}

// heartbeatDocs writes the documents as meteorhacks:cluster's
// Discovery.register does, an upsert of {serviceName, endpoint} with $set
// timestamp and pingInterval (endpointHash and balancer too), now and
// every second until stop.
func heartbeatDocs(ctx context.Context, url string, regs []registration) (stop func(), err error) {
	client, err := mongo.Connect(mopts.Client().ApplyURI(url).SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", url, err)
	}
	coll := client.Database("l4lbcheck").Collection("clusterEndpoints")
	ping := func(ctx context.Context) error {
		for _, r := range regs {
			_, err := coll.UpdateOne(ctx,
				bson.D{{Key: "serviceName", Value: r.service}, {Key: "endpoint", Value: r.endpoint}},
				bson.D{{Key: "$set", Value: bson.D{
					{Key: "timestamp", Value: time.Now()}, {Key: "pingInterval", Value: int32(5000)},
					{Key: "endpointHash", Value: endpointHash(r.endpoint)}, {Key: "balancer", Value: nil},
				}}}, mopts.UpdateOne().SetUpsert(true))
			if err != nil {
				return fmt.Errorf("register %s %s in %s: %w", r.service, r.endpoint, url, err)
			}
		}
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = ping(pctx)
	cancel()
	if err != nil {
		client.Disconnect(context.Background())
		return nil, err
	}
	hctx, hcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				pctx, cancel := context.WithTimeout(hctx, 5*time.Second)
				ping(pctx) // a missed beat is covered by the 15 s grace
				cancel()
			}
		}
	}()
	return func() { hcancel(); <-done; client.Disconnect(context.Background()) }, nil
}

// startDevmongo builds tools/devmongo (FerretDB over SQLite, a separate
// module) and starts it; it returns the discovery URL.
func (c *check) startDevmongo(ctx context.Context) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(c.runDir, "devmongo")
	bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(bctx, "go", "build", "-C", filepath.Join(root, "tools", "devmongo"), "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build tools/devmongo: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dir := filepath.Join(c.runDir, "devmongo-data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	if err := c.ps.start(exec.Command(bin, "-data", dir, "-listen", addr), filepath.Join(c.runDir, "devmongo.log")); err != nil {
		return "", err
	}
	if err := waitTCP(ctx, addr, 60*time.Second); err != nil {
		return "", fmt.Errorf("devmongo: %w", err)
	}
	return "mongodb://" + addr + "/l4lbcheck", nil
}
