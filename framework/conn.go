package mega

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/megaframework/mega/framework/hub"
	"github.com/megaframework/mega/framework/internal/transport"
)

var connSeq atomic.Uint64

// conn is one WebSocket connection as the app sees it: the glue between
// the transport (framework/internal/transport: the send queue, the writer,
// keepalive, the read loop and the closes) and the app's side of it (its
// mount and channel, the hub, the caps, the user and its Ctx). The
// connection runs on a goroutine of its own, started once the upgrade is
// done (the HTTP handler then returns); it ends, with every goroutine of
// its transport, before it is untracked, which is what App.Shutdown waits
// for.
type conn struct {
	app    *App
	mount  *mount
	t      *transport.Conn
	hc     *hub.Conn
	ctx    *Ctx
	limits *Limits
	ip     string // client address, for the per-IP cap
	userID string // authenticated user, for the per-user cap

	expMu  sync.Mutex
	expiry *time.Timer // closes with 4001 when the user's credentials run out (system.go)
	ended  bool        // the connection was torn down: no expiry is armed any more
}

// The transport closes with the codes this package documents: each line
// fails to compile when the two differ.
const (
	_ = uint(CloseSlowClient-transport.CloseSlowClient) + uint(transport.CloseSlowClient-CloseSlowClient)
	_ = uint(CloseRateLimited-transport.CloseRateLimited) + uint(transport.CloseRateLimited-CloseRateLimited)
)

// transportOptions are the transport's limits out of the app's.
func (l *Limits) transportOptions() transport.Options {
	return transport.Options{
		ReadLimit: l.ReadLimit, SendQueue: l.SendQueue,
		PingInterval: l.PingInterval, PongTimeout: l.PongTimeout,
		MessagesPerSecond: l.MessagesPerSecond, Burst: l.Burst,
	}
}

// serveChannel upgrades the request and runs the connection until it ends.
func (a *App) serveChannel(w http.ResponseWriter, r *http.Request, m *mount) {
	if a.closing.Load() {
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	}
	limits := &m.limits
	var user User
	if m.auth != nil {
		u, err := m.auth(r)
		if err != nil {
			writeAuthError(w, err)
			return
		}
		user = u
		if !user.ExpiresAt.IsZero() && !time.Now().Before(user.ExpiresAt) {
			http.Error(w, "credentials expired", http.StatusUnauthorized)
			return
		}
	}
	c := &conn{app: a, mount: m, limits: limits, ip: clientIP(r), userID: user.ID}
	if err := a.track(c); err != nil {
		status := http.StatusTooManyRequests
		if errors.Is(err, errShuttingDown) {
			status = http.StatusServiceUnavailable
		}
		a.log.Info().Str("ns", m.ns).Str("ip", c.ip).Str("user", user.ID).Str("req", middleware.GetReqID(r.Context())).
			Msg("upgrade refused: " + err.Error())
		http.Error(w, err.Error(), status)
		return
	}
	t, err := transport.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: limits.AllowedOrigins}, limits.transportOptions(), c)
	if err != nil {
		a.log.Debug().Err(err).Str("ns", m.ns).Str("ip", c.ip).Str("req", middleware.GetReqID(r.Context())).
			Msg("websocket upgrade refused")
		a.untrack(c)
		return // Accept has answered the request
	}
	c.t = t
	if !a.publish(c) {
		t.Close(CloseGoingAway, a.goingAwayReason())
		t.Teardown()
		a.untrack(c)
		return
	}
	// The connection runs on a fresh goroutine and the HTTP handler returns:
	// an idle connection then holds a small reader stack (4 KB) instead of
	// the handler's, which net/http and routing had grown to 16 KB.
	go func() {
		defer a.untrack(c)
		c.run(r, user)
	}()
}

// clientIP is the host part of the request's remote address.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// run runs the connection on its own goroutine until it ends. While the
// connection idles, this goroutine sits in the transport's read, so run
// keeps its own frame small and does its work in calls that have returned
// by then (open, connect) or that start after (readEnded, finish): every
// byte on that stack path is paid once per connection (ADR 0003; the idle
// benchmark in docs/performance.md shows 4 KB of stack per connection).
func (c *conn) run(r *http.Request, user User) {
	cancel := c.open(r, user)
	defer cancel()
	reason := c.connect()
	if reason == nil {
		// Pings start once OnConnect returned: their pongs are read by the
		// read loop, which starts now, so a ping during a long OnConnect (a
		// welcome built in a join storm) would find no pong and cut the
		// connection.
		c.t.StartKeepalive()
		reason = c.t.Serve() // frames come back to Handle
		c.readEnded(reason)
	}
	cancel() // ends a keepalive ping in flight and tells handlers the connection is gone
	c.finish(reason)
}

// open gives the connection its context, logger and Ctx and attaches it to
// the hub. The returned cancel ends the connection's context.
func (c *conn) open(r *http.Request, user User) context.CancelFunc {
	a, m := c.app, c.mount
	id := "c" + itoa(int(connSeq.Add(1)))
	// r's context ends when the handler returns; keep its values only.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	c.t.SetContext(ctx, cancel)
	lc := a.log.With().Str("ns", m.ns).Str("conn", id)
	if req := middleware.GetReqID(r.Context()); req != "" {
		lc = lc.Str("req", req) // the access log line of the upgrade has it too
	}
	log := lc.Logger()
	if user.ID != "" {
		log = log.With().Str("user", user.ID).Logger()
	}
	// The request's own context ended with the upgrade: handlers that pass
	// Request().Context() on get the connection's instead.
	c.ctx = &Ctx{ctx: ctx, conn: c, id: id, req: r.WithContext(ctx), user: user, log: log}
	c.ctx.Presence = &Presence{c: c.ctx}
	c.hc = a.hub.Attach(m.ns, c.t) // the hub delivers to the transport directly
	c.armExpiry(user.ExpiresAt)
	return cancel
}

// connect runs OnConnect; when it refuses the connection, connect closes it
// with the matching code and returns why.
func (c *conn) connect() error {
	err := c.safely("OnConnect", func() error { return c.mount.channel.OnConnect(c.ctx) })
	if err == nil {
		return nil
	}
	code, reason := ClosePolicyViolation, "connection refused"
	var ce *CloseError
	var e *Error
	switch {
	case errors.As(err, &ce):
		code, reason = ce.Code, ce.Reason
	case errors.Is(err, ErrForbidden):
		code, reason = CloseForbidden, "forbidden"
	case errors.As(err, &e):
		reason = e.Message
	case errors.Is(err, errPanic):
		code, reason = CloseInternal, "internal error"
	}
	c.ctx.log.Info().Err(err).Msg("connection rejected by OnConnect")
	c.closeWith(code, reason)
	return err
}

// readEnded logs why the read loop ended when the client broke a limit.
func (c *conn) readEnded(err error) {
	switch {
	case errors.Is(err, websocket.ErrMessageTooBig):
		c.ctx.log.Info().Int64("limit", c.limits.ReadLimit).Msg("frame over the read limit; closed with 1009")
	case errors.Is(err, transport.ErrRateLimited):
		c.ctx.log.Warn().Float64("perSecond", c.limits.MessagesPerSecond).Msg("rate limit exceeded; closing")
	}
}

// finish runs OnDisconnect and detaches the connection once it ended.
func (c *conn) finish(reason error) {
	if d, ok := c.mount.channel.(Disconnecter); ok {
		c.safely("OnDisconnect", func() error { d.OnDisconnect(c.ctx, reason); return nil })
	}
	c.app.hub.Detach(c.hc)
	c.disarmExpiry()
	c.t.Teardown()
	c.ctx.log.Debug().AnErr("reason", reason).Msg("disconnected")
}

// Handle decodes one frame and runs OnMessage; every failure becomes an
// error frame and the connection stays open. data is reused once Handle
// returns: nothing may keep it (json.Unmarshal copies). Handle implements
// transport.Owner.
func (c *conn) Handle(typ websocket.MessageType, data []byte) {
	var msg Message
	if typ != websocket.MessageText {
		c.t.Send(errorFrame(BadRequest("binary frames are not supported; send JSON text frames"), ""))
		return
	}
	if err := json.Unmarshal(data, &msg); err != nil {
		c.t.Send(errorFrame(BadRequest("frame is not a JSON message object: "+jsonProblem(err)), ""))
		return
	}
	if msg.Type == "" {
		c.t.Send(errorFrame(BadRequest(`frame has no "type"`), msg.Ref))
		return
	}
	var err error
	if h := c.mount.system[msg.Type]; h != nil {
		err = c.safely(msg.Type, func() error { return h(c, msg) })
	} else {
		err = c.safely("OnMessage", func() error { return c.mount.channel.OnMessage(c.ctx, msg) })
	}
	c.replyError(err, msg)
}

// Slow logs a client cut for a full send queue. It implements
// transport.Owner.
func (c *conn) Slow(queued int) {
	c.ctx.log.Warn().Int("queuedBytes", queued).Int("limit", c.limits.SendQueue).
		Msg("slow client: send queue full; closing with 4008")
}

// Cut counts a slow client and takes it out of the hub, before its close
// handshake: it leaves the roster and receives nothing more at once. It
// implements transport.Owner.
func (c *conn) Cut() {
	c.mount.stats.slow.Add(1)
	c.app.hub.Detach(c.hc)
}

// PongMissed logs a connection the keepalive cuts. It implements
// transport.Owner.
func (c *conn) PongMissed(err error) {
	c.ctx.log.Info().Err(err).Msg("keepalive: no pong in time; closing")
}

// replyError sends the client the error frame for a failed OnMessage.
func (c *conn) replyError(err error, msg Message) {
	if err == nil {
		return
	}
	var e *Error
	switch {
	case errors.Is(err, ErrUnknownType):
		e = NewError(CodeUnknownType, fmt.Sprintf("unknown message type %q", msg.Type))
	case errors.As(err, &e):
	default:
		c.ctx.log.Error().Err(err).Str("type", msg.Type).Msg("OnMessage failed")
		e = NewError(CodeInternal, "internal error")
	}
	c.t.Send(errorFrame(e, msg.Ref))
}

var errPanic = errors.New("mega: handler panicked")

// safely runs a channel callback, turning a panic into an error.
func (c *conn) safely(name string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.ctx.log.Error().Interface("panic", p).Bytes("stack", debug.Stack()).Msg(name + " panicked")
			err = fmt.Errorf("%w: %s: %v", errPanic, name, p)
		}
	}()
	return fn()
}

// enqueue queues frame for the client, reporting whether it was queued
// (see transport.Conn.Enqueue).
func (c *conn) enqueue(frame []byte) bool { return c.t.Enqueue(frame) }

// closeWith closes the connection with code and reason once the frames
// already queued are written (see transport.Conn.Close).
func (c *conn) closeWith(code int, reason string) { c.t.Close(code, reason) }
