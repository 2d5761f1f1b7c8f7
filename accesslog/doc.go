// Package accesslog writes one line per HTTP exchange and per tunnel, as
// the engine reports them (engine.Config.Exchanges), to a file or the
// standard output, in JSON Lines or in a text layout close to HAProxy's
// httplog.
//
//	l, err := accesslog.New(accesslog.Config{Path: "/var/log/l4lb/access.log"})
//	if err != nil { ... }
//	defer l.Close()
//	srv, err := engine.New(engine.Config{..., Exchanges: l})
//	...
//	l.Reopen() // on SIGUSR1, after logrotate moved the file
//
// A JSON line:
//
//	{"time":"2026-12-02T10:04:05.123Z","client":"203.0.113.7:51234","listener":"0.0.0.0:80",
//	 "backend":"tcp://10.0.0.5:3000","key":"session","method":"POST","path":"/sockjs/123/a1b2c3d4/xhr_send",
//	 "status":204,"bytes_in":187,"bytes_out":112,"connect_ms":-1,"first_byte_ms":0.412,"total_ms":0.415,
//	 "end":"normal","tunnel":false}
//
// (on one line). The same in the text layout:
//
//	203.0.113.7:51234 [02/Dec/2026:10:04:05.123] 0.0.0.0:80 tcp://10.0.0.5:3000 -1/0.412/0.415 204 112 187 session normal - "POST /sockjs/123/a1b2c3d4/xhr_send"
//
// The fields are those of engine.Exchange: the client (the PROXY header's
// address when trusted; "unix" on a UNIX-socket listener), the listener,
// the backend ("" or "-" when the balancer answered itself), the key that
// routed the request (session, cookie, none), method and path (no query,
// at most engine.MaxExchangePath bytes), the status (0, or -1 in text,
// when there was no response), bytes from and to the client, the connect
// time, the time to the first response byte and the total time in
// milliseconds (-1 when not reached), how it ended (normal, client_reset,
// backend_reset, timeout, limit, invalid, shutdown) and whether it became
// a tunnel, whose line comes when the tunnel closes. Client bytes are
// escaped: JSON strings per RFC 8259, text fields with \xHH for quotes,
// backslashes, spaces (outside quotes), control and non-ASCII bytes.
//
// # Cost
//
// The event loop formats the line, but its time, in a buffer on its
// stack, and copies it into the queue, a byte buffer of bounded size
// (Config.QueueBytes), under a lock held for the copy, putting the time
// in its place there: the date and time of day are formatted once a
// second, not once a line, and nothing is allocated per line. A line
// that does not fit in what is left of the queue is dropped, not waited
// for, and counted: Dropped and the metric l4lb_accesslog_dropped_total. The choice is the
// balancer's latency over the log's completeness; a count says how many
// lines are missing. The default queue, 1 MiB (and as much again that the
// writer writes from), holds 3000 JSON lines or 6000 text lines of the
// usual sizes.
//
// A writer goroutine sleeps until a line comes into the empty queue (one
// wake-up from the loop per batch, none while nothing is logged), lets
// lines gather for 100 ms or until the queue is half full, swaps the
// queue for an empty one and writes it in one write(2). A line reaches
// the file at most about 100 ms after its exchange ended (Close and
// Reopen write what is queued first).
//
// # What it does not do
//
// It does not rotate files (logrotate moves the file, then SIGUSR1 makes
// l4lb reopen it: Reopen), log request or response heads beyond method
// and path, sample, or send lines to syslog.
package accesslog
