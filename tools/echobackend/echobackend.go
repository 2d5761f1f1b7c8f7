package echobackend

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/igm/sockjs-go/v3/sockjs"
)

// Prefix is the SockJS prefix Handler serves, Meteor's default.
const Prefix = "/sockjs"

// HeaderName is the response header that names the backend.
const HeaderName = "X-Backend"

// MaxBytes bounds /bytes?n=N so a typo cannot stream forever.
const MaxBytes = 64 << 30

// Options tune a backend; the zero value is what Handler uses.
type Options struct {
	// DisconnectDelay is how long a SockJS session outlives its last
	// receiving request. If zero, 5 s (sockjs-go's default; Meteor uses 60 s).
	DisconnectDelay time.Duration
	// JSessionID makes SockJS responses set a JSESSIONID cookie, as
	// sockjs-node does under USE_JSESSIONID.
	JSessionID bool
	// ResponseLimit is how many bytes of frames one streaming response
	// (xhr_streaming, eventsource, htmlfile) carries before the server ends
	// it and the client has to open another. If zero, 128 KiB (sockjs-go's
	// default, and sockjs-node's response_limit).
	ResponseLimit uint32
}

// Stamp is the echo a backend named name sends back for msg.
func Stamp(name, msg string) string { return name + ":" + msg }

// Unstamp splits an echo into the backend's name and the message; ok is
// false when echo carries no stamp.
func Unstamp(echo string) (name, msg string, ok bool) {
	return strings.Cut(echo, ":")
}

// Handler returns the backend named name with default Options.
func Handler(name string) http.Handler { return New(name, Options{}) }

// New returns the backend named name.
func New(name string, opts Options) http.Handler {
	sockOpts := sockjs.DefaultOptions
	sockOpts.RawWebsocket = true
	if opts.DisconnectDelay > 0 {
		sockOpts.DisconnectDelay = opts.DisconnectDelay
	}
	if opts.ResponseLimit > 0 {
		sockOpts.ResponseLimit = opts.ResponseLimit
	}
	if opts.JSessionID {
		sockOpts.JSessionID = sockjs.DefaultJSessionID
	}
	sockOpts.WebsocketUpgrader = &websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

	mux := http.NewServeMux()
	mux.Handle(Prefix+"/", sockjs.NewHandler(Prefix, sockOpts, func(s sockjs.Session) { echoSession(name, s) }))
	mux.HandleFunc("/websocket", rawEcho)
	mux.HandleFunc("/name", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })
	mux.HandleFunc("/bytes", serveBytes)
	mux.HandleFunc("/upload", serveUpload)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "backend %s\n", name)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderName, name)
		mux.ServeHTTP(w, r)
	})
}

// echoSession runs for the life of one SockJS session.
func echoSession(name string, s sockjs.Session) {
	for {
		msg, err := s.Recv()
		if err != nil {
			return
		}
		if err := s.Send(Stamp(name, msg)); err != nil {
			return
		}
	}
}

var upgrader = websocket.Upgrader{
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  1024,
	WriteBufferSize: 1024,
}

// rawEcho echoes every WebSocket message unchanged until the client leaves.
func rawEcho(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered with an error status
	}
	defer conn.Close()
	for {
		kind, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if err := conn.WriteMessage(kind, msg); err != nil {
			return
		}
	}
}

// Pattern fills p with the bytes /bytes sends, starting at stream offset off,
// so a client can check a download without holding a copy.
func Pattern(p []byte, off int64) {
	for i := range p {
		p[i] = byte((off + int64(i)) % 251)
	}
}

func serveBytes(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
	if err != nil || n < 0 || n > MaxBytes {
		http.Error(w, "n must be a byte count in [0, 64 GiB]", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	if r.Method == http.MethodHead {
		return
	}
	buf := make([]byte, 64<<10)
	for off := int64(0); off < n; {
		chunk := buf[:min(int64(len(buf)), n-off)]
		Pattern(chunk, off)
		if _, err := w.Write(chunk); err != nil {
			return
		}
		off += int64(len(chunk))
	}
}

func serveUpload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "POST or PUT a body", http.StatusMethodNotAllowed)
		return
	}
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%s %d\n", hex.EncodeToString(h.Sum(nil)), n)
}
