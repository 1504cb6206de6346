// Package devmode is what `mega dev` switches on in the apps it runs: a
// middleware that adds a live-reload script to HTML pages and serves the
// script, the event stream it listens to and what mega dev asks about the
// app (see internal/devproto for the protocol and
// docs/adr/0005-dev-live-reload.md for the design), and the static files
// served from disk instead of the binary. Package mega installs it on
// every App when the environment has MEGA_DEV=1, and only then.
package devmode

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go"

	"github.com/megaframework/mega/internal/devproto"
)

// Enabled reports whether the process runs under mega dev: its
// environment has MEGA_DEV=1 (or true).
func Enabled() bool { return devproto.Enabled(os.Getenv(devproto.EnvDev)) }

// Options configure a Dev.
type Options struct {
	// NATSURL is the NATS server mega dev publishes its notices on. Empty:
	// none, and the event stream only says hello.
	NATSURL string
	// Subject is the subject of those notices; empty means
	// devproto.DefaultSubject.
	Subject string
	// PingInterval is how often an idle event stream sends a comment, so
	// proxies and browsers keep it open; zero means 15 seconds.
	PingInterval time.Duration
}

// FromEnv returns the options mega dev gives through the environment
// (devproto.EnvNATS and devproto.EnvSubject).
func FromEnv() Options {
	return Options{NATSURL: os.Getenv(devproto.EnvNATS), Subject: os.Getenv(devproto.EnvSubject)}
}

// Dev is the dev mode of one app: its middleware and the NATS connection
// its event streams share. Close it when the app shuts down.
type Dev struct {
	id      string // changes with every process: the script reloads on a new one
	natsURL string
	subject string
	ping    time.Duration
	done    chan struct{} // closed by Close: event streams end

	mu     sync.Mutex
	nc     *nats.Conn // connected on the first event stream
	closed bool
}

// New returns a Dev configured by opts. It connects to NATS only when the
// first event stream opens.
func New(opts Options) *Dev {
	return &Dev{
		id:      randomHex(8),
		natsURL: opts.NATSURL,
		subject: cmp.Or(opts.Subject, devproto.DefaultSubject),
		ping:    cmp.Or(opts.PingInterval, 15*time.Second),
		done:    make(chan struct{}),
	}
}

// ID returns the process's id, the one Hello and Info carry.
func (d *Dev) ID() string { return d.id }

// Close ends the event streams (so that an HTTP server shutdown does not
// wait for them) and the NATS connection. It is safe to call more than
// once.
func (d *Dev) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	close(d.done)
	if d.nc != nil {
		d.nc.Close()
	}
}

// conn returns the NATS connection to mega dev's server, connecting on
// first use; nil when there is none or the app is closing.
func (d *Dev) conn() *nats.Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.natsURL == "" {
		return nil
	}
	if d.nc == nil {
		nc, err := nats.Connect(d.natsURL, nats.Name("mega-dev"), nats.MaxReconnects(-1),
			nats.RetryOnFailedConnect(true), nats.ReconnectWait(250*time.Millisecond))
		if err != nil {
			return nil
		}
		d.nc = nc
	}
	return d.nc
}

// Middleware serves the dev paths (devproto.ScriptPath, EventsPath and
// InfoPath, relative to where the app is mounted) and adds the script to
// the HTML pages next serves: text/html GET navigations from browsers,
// never WebSocket upgrades, compressed or partial responses. Everything
// else goes to next untouched.
func (d *Dev) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.serve(w, r, next)
	})
}

func (d *Dev) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	path, prefix := r.URL.Path, ""
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePath != "" {
		// Mounted under /<app>: the app's paths are relative to the mount.
		path = rctx.RoutePath
		prefix = strings.TrimSuffix(r.URL.Path, path)
	}
	switch path {
	case devproto.ScriptPath:
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(script))
		return
	case devproto.EventsPath:
		d.serveEvents(w, r)
		return
	case devproto.InfoPath:
		static := staticDirs.list()
		if static == nil {
			static = []string{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(devproto.Info{ID: d.id, Static: static})
		return
	}
	if r.Method != http.MethodGet || r.Header.Get("Upgrade") != "" ||
		!strings.Contains(r.Header.Get("Accept"), "text/html") {
		next.ServeHTTP(w, r)
		return
	}
	iw := &htmlInjector{w: w, tag: []byte(`<script src="` + prefix + devproto.ScriptPath + `"></script>`)}
	next.ServeHTTP(iw, r)
	iw.finish()
}

// serveEvents streams mega dev's notices to a browser as Server-Sent
// Events. The first event, "hello", carries this process's id: a script
// that sees a new id after a reconnect knows the app was rebuilt.
func (d *Dev) serveEvents(w http.ResponseWriter, r *http.Request) {
	var msgs chan *nats.Msg
	if nc := d.conn(); nc != nil {
		msgs = make(chan *nats.Msg, 64)
		sub, err := nc.ChanSubscribe(d.subject, msgs)
		if err != nil {
			msgs = nil
		} else {
			defer func() { _ = sub.Unsubscribe() }()
		}
	}
	select {
	case <-d.done:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	hello, _ := json.Marshal(devproto.Hello{ID: d.id})
	_, _ = w.Write([]byte("retry: 250\nevent: hello\ndata: " + string(hello) + "\n\n"))
	_ = rc.Flush()
	ping := time.NewTicker(d.ping)
	defer ping.Stop()
	for {
		var out []byte
		select {
		case <-r.Context().Done():
			return
		case <-d.done:
			return
		case <-ping.C:
			out = []byte(": ping\n\n")
		case m := <-msgs:
			var compact bytes.Buffer
			if _, err := devproto.Decode(m.Data); err != nil || json.Compact(&compact, m.Data) != nil {
				continue // not a notice this page's script understands
			}
			out = append(append([]byte("data: "), compact.Bytes()...), "\n\n"...)
		}
		if _, err := w.Write(out); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
