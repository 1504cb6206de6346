package mega

// Dev mode: what `mega dev` switches on in the apps it runs. Nothing in this
// file does anything unless the process environment has MEGA_DEV=1.

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go"

	"github.com/megaframework/mega/internal/devproto"
)

// DevMode reports whether the process runs under `mega dev`, that is whether
// its environment has MEGA_DEV=1.
//
// In dev mode, and only then, every App:
//
//   - adds <script src="/_mega/dev.js"></script> to its text/html responses
//     (before </body>; GET requests from browsers only, never WebSocket
//     upgrades or compressed or partial responses);
//   - serves /_mega/dev.js, the live-reload script: it reloads the page when
//     a new build of the app is ready (its /readyz answers), or when mega dev
//     announces a changed static file, and shows compiler errors over the
//     page while a build is broken;
//   - serves /_mega/dev/events (a Server-Sent Events stream the script
//     listens to, fed by mega dev's notices over NATS from MEGA_DEV_NATS on
//     MEGA_DEV_SUBJECT) and /_mega/dev/info (the directories StaticFS serves
//     from disk, which mega dev reads to reload instead of rebuild).
//
// Outside dev mode none of these paths exist and responses are not touched.
func DevMode() bool {
	return devproto.Enabled(os.Getenv(devproto.EnvDev))
}

// StaticFS returns the directory dir of fsys, typically an embed.FS holding
// an app's static files:
//
//	//go:embed static
//	var static embed.FS
//
//	files := mega.StaticFS(static, "static")
//	r.Handle("/static/*", http.StripPrefix("/static/", http.FileServerFS(files)))
//
// In dev mode (see DevMode) it returns the same directory on disk instead,
// found next to the source file that calls StaticFS, so an edited file is
// served at once, without a rebuild, and mega dev only reloads the browser.
// When that directory is not on disk (a binary built with -trimpath, or run
// on another machine) it falls back to fsys. Outside dev mode it is
// fs.Sub(fsys, dir) and panics if dir is not a valid path, a programming
// error found at start-up.
func StaticFS(fsys fs.FS, dir string) fs.FS {
	return staticFS(fsys, dir, 2)
}

// Static returns a file server for the directory dir of fsys, as StaticFS
// describes: served from fsys, or from disk in dev mode. In dev mode its
// responses carry Cache-Control: no-store, so a reload always fetches the
// edited file.
func Static(fsys fs.FS, dir string) http.Handler {
	files := http.FileServerFS(staticFS(fsys, dir, 2))
	if !DevMode() {
		return files
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		files.ServeHTTP(w, r)
	})
}

// staticFS implements StaticFS; skip counts the frames up to the app's
// call, whose source file locates dir on disk.
func staticFS(fsys fs.FS, dir string, skip int) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic("mega: StaticFS(" + strconv.Quote(dir) + "): " + err.Error())
	}
	if !DevMode() {
		return sub
	}
	_, file, _, ok := runtime.Caller(skip)
	if !ok || !filepath.IsAbs(file) {
		return sub
	}
	disk := filepath.Join(filepath.Dir(file), filepath.FromSlash(dir))
	if st, err := os.Stat(disk); err != nil || !st.IsDir() {
		return sub
	}
	devStatic.add(disk)
	return os.DirFS(disk)
}

// devStatic lists the directories StaticFS serves from disk in this
// process; /_mega/dev/info reports them to mega dev.
var devStatic staticDirs

type staticDirs struct {
	mu   sync.Mutex
	dirs []string
}

func (s *staticDirs) add(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.dirs, dir) {
		s.dirs = append(s.dirs, dir)
	}
}

func (s *staticDirs) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dirs)
}

// devMode is an App's dev-mode state; nil outside dev mode.
type devMode struct {
	id      string // changes with every process: the script reloads on a new one
	natsURL string
	subject string
	done    chan struct{} // closed by close: event streams end

	mu     sync.Mutex
	nc     *nats.Conn // connected on the first event stream
	closed bool
}

// newDevMode returns the dev-mode state for a new App, or nil when the
// process is not in dev mode.
func newDevMode() *devMode {
	if !DevMode() {
		return nil
	}
	return &devMode{
		id:      randomHex(8),
		natsURL: os.Getenv(devproto.EnvNATS),
		subject: cmp.Or(os.Getenv(devproto.EnvSubject), devproto.DefaultSubject),
		done:    make(chan struct{}),
	}
}

// close ends the event streams (so that an HTTP server shutdown does not
// wait for them) and the NATS connection. It is safe on a nil devMode and
// more than once.
func (d *devMode) close() {
	if d == nil {
		return
	}
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
func (d *devMode) conn() *nats.Conn {
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

// serveHTTP serves the dev paths and injects the script into HTML pages;
// everything else goes to next untouched.
func (d *devMode) serveHTTP(w http.ResponseWriter, r *http.Request, next http.Handler) {
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
		_, _ = w.Write([]byte(devScript))
		return
	case devproto.EventsPath:
		d.serveEvents(w, r)
		return
	case devproto.InfoPath:
		static := devStatic.list()
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
func (d *devMode) serveEvents(w http.ResponseWriter, r *http.Request) {
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
	ping := time.NewTicker(15 * time.Second)
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

// htmlInjector buffers a text/html response and adds the dev script before
// its closing </body> tag (or at the end). Any other response passes
// through unchanged.
type htmlInjector struct {
	w       http.ResponseWriter
	tag     []byte
	decided bool
	inject  bool
	status  int
	buf     bytes.Buffer
}

func (h *htmlInjector) Header() http.Header { return h.w.Header() }

func (h *htmlInjector) WriteHeader(code int) {
	if h.decided {
		return
	}
	if code >= 100 && code < 200 {
		h.w.WriteHeader(code)
		return
	}
	h.decided = true
	hd := h.w.Header()
	h.inject = code == http.StatusOK && hd.Get("Content-Encoding") == "" &&
		strings.HasPrefix(hd.Get("Content-Type"), "text/html")
	if !h.inject {
		h.w.WriteHeader(code)
		return
	}
	h.status = code
	hd.Del("Content-Length")
}

func (h *htmlInjector) Write(b []byte) (int, error) {
	if !h.decided {
		if h.w.Header().Get("Content-Type") == "" {
			h.w.Header().Set("Content-Type", http.DetectContentType(b))
		}
		h.WriteHeader(http.StatusOK)
	}
	if !h.inject {
		return h.w.Write(b)
	}
	return h.buf.Write(b)
}

// Flush flushes a response that is not being buffered.
func (h *htmlInjector) Flush() {
	if h.decided && !h.inject {
		_ = http.NewResponseController(h.w).Flush()
	}
}

// finish writes the buffered page with the script added.
func (h *htmlInjector) finish() {
	if !h.inject {
		return
	}
	page := h.buf.Bytes()
	at := bytes.LastIndex(bytes.ToLower(page), []byte("</body>"))
	if at < 0 {
		at = len(page)
	}
	out := make([]byte, 0, len(page)+len(h.tag))
	out = append(append(append(out, page[:at]...), h.tag...), page[at:]...)
	h.w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	h.w.WriteHeader(h.status)
	_, _ = h.w.Write(out)
}

// devScript is /_mega/dev.js. It listens to /_mega/dev/events; when the
// stream breaks (the app is restarting) it polls /readyz until the new
// process answers, reconnects and reloads the page if the process id
// changed. A "reload" notice reloads the page, or only the stylesheets when
// every changed file is CSS; a failed "build" notice shows the compiler
// output over the page until the next good build. It sets styles through
// the CSSOM so a Content-Security-Policy without 'unsafe-inline' allows it.
const devScript = `// mega dev live reload (served only in dev mode)
(() => {
  const src = document.currentScript && document.currentScript.src;
  if (!src || window.__megaDev) return;
  const state = window.__megaDev = { connected: false }; // for tests and curious developers
  const base = src.replace(/\/_mega\/dev\.js([?#].*)?$/, "");
  let id = null, box = null, wait = 200;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const reloadCSS = () => {
    for (const l of document.querySelectorAll('link[rel="stylesheet"]')) {
      const u = new URL(l.href);
      u.searchParams.set("_mega", Date.now().toString(36));
      l.href = u.toString();
    }
  };
  const hide = () => { if (box) { box.remove(); box = null; } };
  const show = (text) => {
    hide();
    box = document.createElement("pre");
    const s = box.style;
    s.position = "fixed"; s.inset = "0"; s.margin = "0"; s.padding = "2em"; s.zIndex = "2147483647";
    s.background = "rgba(20,20,20,.94)"; s.color = "#f88"; s.font = "14px/1.5 ui-monospace,monospace";
    s.overflow = "auto"; s.whiteSpace = "pre-wrap";
    box.textContent = "mega dev: build failed, the previous version is still running\n\n" + text;
    box.addEventListener("click", hide);
    document.body.appendChild(box);
  };
  const connect = () => {
    const es = new EventSource(base + "/_mega/dev/events");
    es.addEventListener("hello", (e) => {
      const h = JSON.parse(e.data);
      if (id !== null && h.id !== id) { location.reload(); return; }
      id = h.id; wait = 200; state.connected = true;
    });
    es.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "reload") {
        const files = m.files || [];
        if (files.length > 0 && files.every((f) => f.endsWith(".css"))) reloadCSS(); else location.reload();
      } else if (m.type === "build") {
        if (m.ok) hide(); else show(m.output || "");
      }
    };
    es.onerror = () => { state.connected = false; es.close(); whenReady(); };
  };
  const whenReady = async () => {
    for (;;) {
      await sleep(wait);
      wait = Math.min(wait * 1.5, 2000);
      try {
        const r = await fetch(base + "/readyz", { cache: "no-store" });
        if (r.ok) break;
      } catch (e) { /* not up yet */ }
    }
    connect();
  };
  connect();
})();
`
