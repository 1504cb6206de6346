package mega

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/megaframework/mega/framework/hub"
	"github.com/megaframework/mega/framework/internal/devmode"
)

// App is one named application: HTTP routes on a chi router plus WebSocket
// channels mounted at namespaces. One process may serve several apps.
type App struct {
	name   string
	router *chi.Mux
	hub    *hub.Hub
	log    zerolog.Logger
	limits Limits

	mountMu sync.RWMutex
	mounts  map[string]*mount

	mu      sync.Mutex
	conns   map[*conn]struct{}
	perIP   map[string]int // live connections per client IP
	perUser map[string]int // live connections per user id
	serving sync.WaitGroup // one per live connection

	closing  atomic.Bool
	draining atomic.Bool // /readyz answers 503 while everything keeps working
	ready    atomic.Pointer[func() error]

	// reconnectWindow is sent to closing connections as "retry=<ms>" so
	// their clients spread out their reconnects (server.reconnectWindow).
	reconnectWindow time.Duration

	dev *devmode.Dev // nil unless the process runs under mega dev (see DevMode)

	useMu   sync.Mutex
	handler atomic.Pointer[http.Handler] // router wrapped in the middleware of Use, then dev mode's
	use     []func(http.Handler) http.Handler
}

// mount is a channel mounted at a namespace.
type mount struct {
	ns             string
	channel        Channel
	auth           AuthFunc
	authorize      AuthorizeFunc
	system         map[string]systemHandler // message types the framework serves (system.go)
	history        *History                 // what the channel keeps (history.go); nil: nothing
	hist           atomic.Pointer[chanHistory]
	presenceFrames bool
	presenceBatch  time.Duration // interval of presence.diff batches; < 0: none
	presenceCount  time.Duration // > 0: count-only presence, at most once per this
	feed           *presenceFeed
	override       *Limits // WithChannelLimits
	limits         Limits  // the app's limits with override applied; what its connections get
	stats          nsCounters
}

// NewApp returns an app named name with default limits and a disabled
// logger. Mount HTTP routes on Router() and channels with Channel.
func NewApp(name string, opts ...Option) *App {
	a := &App{
		name:    name,
		router:  chi.NewRouter(),
		hub:     hub.New(),
		log:     zerolog.Nop(),
		limits:  DefaultLimits(),
		mounts:  make(map[string]*mount),
		conns:   make(map[*conn]struct{}),
		perIP:   make(map[string]int),
		perUser: make(map[string]int),
	}
	for _, o := range opts {
		o(a)
	}
	a.dev = newDev()
	a.wrap()
	a.log = a.log.With().Str("app", name).Logger()
	a.router.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	a.router.Get("/readyz", a.serveReady)
	mountClient(a.router) // /_mega/client.js, see client.go
	return a
}

// Name returns the app's name.
func (a *App) Name() string { return a.name }

// Router returns the app's chi router for HTTP routes and middleware.
func (a *App) Router() chi.Router { return a.router }

// Logger returns the app's logger.
func (a *App) Logger() *zerolog.Logger { return &a.log }

// ServeHTTP serves the app's routes and channels.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*a.handler.Load()).ServeHTTP(w, r)
}

// Use wraps the whole app in middleware: every request to it passes
// through mw, in the order given, before routing. That covers the routes of
// Router(), the WebSocket upgrades of every channel, /healthz, /readyz and
// /_mega/client.js, so it suits what applies to everything, such as
// security headers, CSRF checks or loading a session. (Router().Use only
// works before the first route is added, which NewApp already did.) Call
// it while setting the app up, before it serves.
func (a *App) Use(mw ...func(http.Handler) http.Handler) {
	a.useMu.Lock()
	defer a.useMu.Unlock()
	a.use = append(a.use, mw...)
	a.wrap()
}

// wrap builds the handler ServeHTTP runs: the router inside the middleware
// of Use, inside dev mode's when it is on (so its script reaches every
// page, whatever the app's middleware does). NewApp and Use call it.
func (a *App) wrap() {
	var h http.Handler = a.router
	for i := len(a.use) - 1; i >= 0; i-- {
		h = a.use[i](h)
	}
	if a.dev != nil {
		h = a.dev.Middleware(h)
	}
	a.handler.Store(&h)
}

// SetReady installs the check behind GET /readyz: the app answers 200 when
// it returns nil and 503 with the error otherwise. The boot stage sets it to
// "bus connected and cluster synced".
func (a *App) SetReady(check func() error) { a.ready.Store(&check) }

func (a *App) serveReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := a.notReady(); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// notReady says why the app is not ready, or nil when it is.
func (a *App) notReady() error {
	if a.closing.Load() {
		return errShuttingDown
	}
	if a.draining.Load() {
		return errDraining
	}
	if p := a.ready.Load(); p != nil {
		return (*p)()
	}
	return nil
}

// Channel mounts ch at namespace ns, the WebSocket path (e.g. "/ws/chat").
// Mounting two channels at one namespace, or a namespace that is not an
// absolute path, panics: it is a programming error found at start-up.
func (a *App) Channel(ns string, ch Channel, opts ...ChannelOption) {
	if !strings.HasPrefix(ns, "/") {
		panic(fmt.Sprintf("mega: Channel(%q): the namespace must be a path starting with /", ns))
	}
	if ch == nil {
		panic(fmt.Sprintf("mega: Channel(%q): channel is nil", ns))
	}
	m := &mount{ns: ns, channel: ch}
	for _, o := range opts {
		o(m)
	}
	m.limits = a.limits.merge(m.override) // once, not per connection
	a.mountMu.Lock()
	if _, dup := a.mounts[ns]; dup {
		a.mountMu.Unlock()
		panic(fmt.Sprintf("mega: Channel(%q): a channel is already mounted there", ns))
	}
	a.mounts[ns] = m
	a.mountMu.Unlock()

	listener, _ := ch.(PresenceListener)
	if m.presenceFrames || m.presenceCount > 0 {
		m.feed = &presenceFeed{app: a, ns: ns, interval: m.presenceBatch}
		switch {
		case m.presenceCount > 0:
			m.feed.interval, m.feed.countOnly = m.presenceCount, true
		case m.presenceBatch == 0:
			m.feed.interval = DefaultPresenceBatch
		}
	}
	if m.feed != nil || listener != nil {
		a.hub.Subscribe(ns, func(ev hub.Event) { a.presenceChanged(m, listener, ev) })
	}
	a.router.Get(ns, func(w http.ResponseWriter, r *http.Request) { a.serveChannel(w, r, m) })
}

// presenceChanged turns a roster change into presence frames for the local
// connections of the namespace (see presence_feed.go) and into the
// channel's OnPresence call.
func (a *App) presenceChanged(m *mount, l PresenceListener, ev hub.Event) {
	if m.feed != nil {
		m.feed.changed(ev)
	}
	if l != nil {
		l.OnPresence(PresenceEvent{Op: PresenceOp(ev.Op), Member: ev.Member, Remote: ev.Remote})
	}
}

// goingAwayReason is the reason of the 1001 close at shutdown: with a
// reconnect window, "retry=<ms>" asks clients to spread their reconnects
// over it (the browser client honours it).
func (a *App) goingAwayReason() string {
	if a.reconnectWindow <= 0 {
		return "server shutting down"
	}
	return "server shutting down; retry=" + itoa(int(a.reconnectWindow/time.Millisecond))
}

// Shutdown closes every WebSocket with 1001 (going away), lets in-flight
// handlers finish and waits for all connections to end or ctx to expire, in
// which case the remaining connections are cut and ctx's error returned.
// New upgrades are refused with 503 from the moment Shutdown is called.
func (a *App) Shutdown(ctx context.Context) error {
	a.closing.Store(true)
	if a.dev != nil {
		a.dev.Close()
	}
	a.mountMu.RLock()
	for _, m := range a.mounts {
		if m.feed != nil {
			m.feed.stop()
		}
	}
	a.mountMu.RUnlock()
	a.mu.Lock()
	conns := make([]*conn, 0, len(a.conns))
	for c := range a.conns {
		conns = append(conns, c)
	}
	a.mu.Unlock()
	for _, c := range conns {
		c.t.GoAway(CloseGoingAway, a.goingAwayReason())
	}
	done := make(chan struct{})
	go func() {
		a.serving.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	// Out of time: cut every connection and cancel its context, then give
	// handlers a moment to notice; one that ignores its context is left
	// behind rather than holding the process past its deadline.
	for _, c := range conns {
		c.t.CloseNow()
	}
	t := time.NewTimer(stuckHandlerGrace)
	defer t.Stop()
	select {
	case <-done:
		return fmt.Errorf("mega: app %s: shutdown: connections cut: %w", a.name, ctx.Err())
	case <-t.C:
		return fmt.Errorf("mega: app %s: shutdown: handlers still running after their context was cancelled: %w", a.name, ctx.Err())
	}
}

// track reserves a slot for a connection before its upgrade, enforcing the
// per-IP and per-user caps; it fails once Shutdown has begun. The
// connection becomes visible to Shutdown with publish, once it has a socket.
func (a *App) track(c *conn) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing.Load() {
		return errShuttingDown
	}
	if max := c.limits.MaxConnectionsPerIP; max > 0 && a.perIP[c.ip] >= max {
		return errTooManyPerIP
	}
	if max := c.limits.MaxConnectionsPerUser; max > 0 && c.userID != "" && a.perUser[c.userID] >= max {
		return errTooManyPerUser
	}
	a.perIP[c.ip]++
	if c.userID != "" {
		a.perUser[c.userID]++
	}
	a.serving.Add(1)
	return nil
}

// publish makes an upgraded connection visible to Shutdown. It reports
// false when Shutdown began during the upgrade: the caller closes with 1001.
func (a *App) publish(c *conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing.Load() {
		return false
	}
	a.conns[c] = struct{}{}
	return true
}

func (a *App) untrack(c *conn) {
	a.mu.Lock()
	if _, live := a.conns[c]; live {
		// Fold the connection's counters into its namespace's (see metrics.go).
		c.mount.stats.received += c.t.Received()
		c.mount.stats.delivered += c.t.Delivered()
	}
	delete(a.conns, c)
	decrement(a.perIP, c.ip)
	if c.userID != "" {
		decrement(a.perUser, c.userID)
	}
	a.mu.Unlock()
	a.serving.Done()
}

func decrement(m map[string]int, key string) {
	if m[key] <= 1 {
		delete(m, key)
		return
	}
	m[key]--
}

// stuckHandlerGrace is how long Shutdown waits, after its deadline and
// cancelling every connection's context, for handlers to return.
const stuckHandlerGrace = time.Second

var (
	errShuttingDown   = errors.New("server is shutting down")
	errDraining       = errors.New("draining: the server is stopping, route new clients elsewhere")
	errTooManyPerIP   = errors.New("too many connections from your address")
	errTooManyPerUser = errors.New("too many connections for this user")
)
