package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/l4lb/l4lb/tools/echobackend"
	"github.com/l4lb/l4lb/tools/loadgen"
)

// goBackends are the in-process echo backends loadgen runs against: they
// name themselves in every response (X-Backend), so that loadgen counts
// each answer from another backend than its session's as a misroute.
type goBackends struct {
	names []string
	addrs []string
	srvs  []*http.Server
}

func startGoBackends() (*goBackends, error) {
	g := &goBackends{}
	for _, name := range []string{"a", "b", "c", "d"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			g.close()
			return nil, fmt.Errorf("listen for echo backend %s: %w", name, err)
		}
		// Meteor's disconnect delay, so that a busy machine cannot time
		// a session out between two polls.
		srv := &http.Server{Handler: echobackend.New(name, echobackend.Options{DisconnectDelay: time.Minute}), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		g.names, g.addrs, g.srvs = append(g.names, name), append(g.addrs, ln.Addr().String()), append(g.srvs, srv)
	}
	return g, nil
}

func (g *goBackends) close() {
	for _, s := range g.srvs {
		s.Close()
	}
}

// set is the content of their backends file: a, b and c, with d if join,
// and a draining if drain.
func (g *goBackends) set(join, drain bool) string {
	var b strings.Builder
	for i, addr := range g.addrs {
		if i == 3 && !join {
			continue
		}
		b.WriteString(addr)
		if i == 0 && drain {
			b.WriteString(" state=draining")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// loadgen runs loadgen's polling scenario through tg for 9 s, with the
// join at 3 s and the drain at 6 s.
func (c *scaleCheck) loadgen(ctx context.Context, tg scaleTarget) error {
	run := "loadgen-" + tg.name
	file := filepath.Join(c.runDir, "backends-go.txt")
	if err := writeFile(file, c.goBack.set(false, false)); err != nil {
		return err
	}
	g, err := c.startGroup(ctx, tg, run, file)
	if err != nil {
		return err
	}
	defer g.stop(c.ps)
	type outcome struct {
		res *loadgen.Result
		err error
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		res, err := loadgen.Run(ctx, loadgen.Config{
			Scenario:         loadgen.Polling,
			Label:            tg.name,
			Targets:          g.addrs,
			AlternateTargets: tg.n > 1,
			Workers:          8,
			Duration:         9 * time.Second,
		})
		done <- outcome{res, err}
	}()
	for _, step := range []struct {
		at          time.Duration
		join, drain bool
	}{{joinAfter, true, false}, {drainAfter, true, true}} {
		time.Sleep(time.Until(start.Add(step.at)))
		if _, _, err := c.change(ctx, g, file, c.goBack.set(step.join, step.drain)); err != nil {
			return err
		}
	}
	out := <-done
	if out.err != nil {
		return fmt.Errorf("%s: %w", run, out.err)
	}
	res := out.res
	cell := fmt.Sprintf("%d misroutes", res.Misroutes)
	if res.Errors > 0 {
		cell += fmt.Sprintf(", %d errors", res.Errors)
	}
	row := "loadgen polling join+drain"
	if c.cells[row] == nil {
		c.rows = append(c.rows, row)
		c.cells[row] = map[string]string{}
	}
	c.cells[row][tg.name] = cell
	fmt.Fprintf(os.Stderr, "%-26s %-14s %s; %d requests, %d sessions, answers per backend %v\n", row, tg.name, cell, res.Ops, res.Sessions, res.Backends)
	if len(res.ErrorSamples) > 0 {
		fmt.Fprintf(os.Stderr, "%41s first error: %s\n", "", res.ErrorSamples[0])
	}
	if tg.memory && tg.n == 1 && (res.Misroutes > 0 || res.Errors > 0) {
		c.fail = append(c.fail, fmt.Sprintf("%s: %d misroutes, %d errors; want none", run, res.Misroutes, res.Errors))
	}
	return nil
}
