//go:build linux

package engine

import (
	"fmt"
	"strings"
)

// dump describes every connection that is not a plain idle tunnel; tests
// print it when something hangs.
func (s *Server) dump() string {
	var b strings.Builder
	for _, l := range s.loops {
		done := make(chan struct{})
		l.post(func() {
			defer close(done)
			for _, sk := range l.socks {
				if sk == nil || sk != &sk.c.cli {
					continue
				}
				c := sk.c
				if c.phase == phTunnel && !c.up.pending() && !c.down.pending() {
					continue
				}
				fmt.Fprintf(&b, "loop %d cli %d(ev %x r%v w%v) be %d(ev %x r%v w%v) phase %d up %d/%d/%d eof %v down %d/%d/%d eof %v",
					l.idx, c.cli.fd, c.cli.ev, c.cli.canRead, c.cli.canWrite, c.be.fd, c.be.ev, c.be.canRead, c.be.canWrite,
					c.phase, c.up.r, c.up.p, c.up.w, c.up.eof, c.down.r, c.down.p, c.down.w, c.down.eof)
				if c.h != nil {
					fmt.Fprintf(&b, " h %+v", *c.h)
				}
				b.WriteString("\n")
			}
		})
		<-done
	}
	return b.String()
}
