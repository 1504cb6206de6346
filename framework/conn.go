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
)

var connSeq atomic.Uint64

// conn is one WebSocket connection: the reader runs on a goroutine of its
// own, started once the upgrade is done (the HTTP handler then returns); a
// writer goroutine exists only while frames are queued; pings run from a
// timer. All three end before the connection is untracked, which is what
// App.Shutdown waits for.
type conn struct {
	app    *App
	mount  *mount
	ws     *websocket.Conn
	cork   *corkConn // the socket under ws, to coalesce a batch's writes (nil if unavailable)
	hc     *hub.Conn
	ctx    *Ctx
	limits *Limits
	ip     string // client address, for the per-IP cap
	userID string // authenticated user, for the per-user cap
	cancel context.CancelFunc

	mu        sync.Mutex
	queue     [][]byte // frames waiting for the writer
	spare     [][]byte // the writer's previous batch, reused to avoid allocation
	queued    int      // bytes in queue and in the batch being written
	oversize  int      // bytes a frame larger than SendQueue, queued when the queue was empty, adds to the limit
	writing   bool     // a writer goroutine is running
	closed    bool     // Send queues nothing more
	holding   bool     // a history read is running: Send keeps frames in held
	held      [][]byte // frames kept back until the history read answered
	busy      bool     // a handler is running on the read loop
	goingAway bool     // Shutdown asked to close once the running handler returns
	// closeCode and closeReason are sent by the writer once the queue is
	// drained, when a flushing close was asked for.
	closeCode   int
	closeReason string
	workers     sync.WaitGroup

	ping   *time.Timer
	expiry *time.Timer // closes with 4001 when the user's credentials run out (system.go)

	// rate limiter: a token bucket refilled at MessagesPerSecond.
	tokens float64
	last   time.Time

	// Metrics (see metrics.go): frames received, written by the reader
	// only; frames queued, under mu.
	received  atomic.Uint64
	delivered uint64
}

// serveChannel upgrades the request and runs the connection until it ends.
func (a *App) serveChannel(w http.ResponseWriter, r *http.Request, m *mount) {
	if a.closing.Load() {
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	}
	limits := a.limits.merge(m.override)
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
	c := &conn{app: a, mount: m, limits: &limits, ip: clientIP(r), userID: user.ID, tokens: float64(limits.Burst), last: time.Now()}
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
	rw, cw := withCork(w)
	ws, err := websocket.Accept(rw, r, &websocket.AcceptOptions{OriginPatterns: limits.AllowedOrigins})
	if err != nil {
		a.log.Debug().Err(err).Str("ns", m.ns).Str("ip", c.ip).Str("req", middleware.GetReqID(r.Context())).
			Msg("websocket upgrade refused")
		a.untrack(c)
		return // Accept has answered the request
	}
	ws.SetReadLimit(limits.ReadLimit)
	c.ws = ws
	if cw != nil {
		c.cork = cw.conn
	}
	if !a.publish(c) {
		_ = ws.Close(CloseGoingAway, a.goingAwayReason())
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

func (c *conn) run(r *http.Request, user User) {
	a, m := c.app, c.mount
	id := "c" + itoa(int(connSeq.Add(1)))
	// r's context ends when the handler returns; keep its values only.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	c.mu.Lock()
	c.cancel = cancel
	c.mu.Unlock()
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
	c.hc = a.hub.Attach(m.ns, c)
	// Pings start once OnConnect returned: their pongs are read by the read
	// loop, which starts then, so a ping during a long OnConnect (a welcome
	// built in a join storm) would find no pong and cut the connection.
	c.ping = time.AfterFunc(time.Hour, c.keepalive)
	c.ping.Stop()
	c.armExpiry(user.ExpiresAt)

	reason := c.serve()
	cancel() // ends a keepalive ping in flight and tells handlers the connection is gone

	if d, ok := m.channel.(Disconnecter); ok {
		c.safely("OnDisconnect", func() error { d.OnDisconnect(c.ctx, reason); return nil })
	}
	a.hub.Detach(c.hc)
	c.shutdown()
	log.Debug().AnErr("reason", reason).Msg("disconnected")
}

// serve runs OnConnect and the read loop; it returns why the connection ended.
func (c *conn) serve() error {
	if err := c.safely("OnConnect", func() error { return c.mount.channel.OnConnect(c.ctx) }); err != nil {
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
	c.mu.Lock()
	if !c.closed {
		c.ping.Reset(c.limits.PingInterval)
	}
	c.mu.Unlock()
	for {
		typ, data, err := c.readFrame() // see readbuf.go
		if err != nil {
			if errors.Is(err, websocket.ErrMessageTooBig) {
				c.ctx.log.Info().Int64("limit", c.limits.ReadLimit).Msg("frame over the read limit; closed with 1009")
			}
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure || websocket.CloseStatus(err) == websocket.StatusGoingAway {
				return nil
			}
			return err
		}
		c.received.Add(1)
		if !c.allow() {
			releaseFrame(data)
			c.ctx.log.Warn().Float64("perSecond", c.limits.MessagesPerSecond).Msg("rate limit exceeded; closing")
			c.closeWith(CloseRateLimited, "rate limit exceeded")
			return errRateLimited
		}
		c.handle(typ, *data)
		releaseFrame(data)
	}
}

var errRateLimited = errors.New("mega: rate limit exceeded")

// allow takes one token from the connection's bucket.
func (c *conn) allow() bool {
	now := time.Now()
	c.tokens += now.Sub(c.last).Seconds() * c.limits.MessagesPerSecond
	c.last = now
	if max := float64(c.limits.Burst); c.tokens > max {
		c.tokens = max
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// handle decodes one frame and runs OnMessage; every failure becomes an
// error frame and the connection stays open. data is reused once handle
// returns: nothing may keep it (json.Unmarshal copies).
func (c *conn) handle(typ websocket.MessageType, data []byte) {
	var msg Message
	if typ != websocket.MessageText {
		c.Send(errorFrame(BadRequest("binary frames are not supported; send JSON text frames"), ""))
		return
	}
	if err := json.Unmarshal(data, &msg); err != nil {
		c.Send(errorFrame(BadRequest("frame is not a JSON message object: "+jsonProblem(err)), ""))
		return
	}
	if msg.Type == "" {
		c.Send(errorFrame(BadRequest(`frame has no "type"`), msg.Ref))
		return
	}
	c.mu.Lock()
	c.busy = true
	c.mu.Unlock()
	var err error
	if h := c.mount.system[msg.Type]; h != nil {
		err = c.safely(msg.Type, func() error { return h(c, msg) })
	} else {
		err = c.safely("OnMessage", func() error { return c.mount.channel.OnMessage(c.ctx, msg) })
	}
	c.replyError(err, msg)
	c.mu.Lock()
	c.busy = false
	away := c.goingAway
	c.mu.Unlock()
	if away {
		c.closeWith(CloseGoingAway, c.app.goingAwayReason())
	}
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
	c.Send(errorFrame(e, msg.Ref))
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

// Send queues frame without blocking. When the queue would exceed the
// connection's SendQueue bytes the client is too slow: it is closed with
// CloseSlowClient and the frame is dropped. Send implements hub.Client.
func (c *conn) Send(frame []byte) { c.enqueue(frame) }

// enqueue is Send reporting whether the frame was queued: false when the
// connection is closed or was just cut as too slow. While the connection
// holds (a history read runs), frames wait in held, counted in the queue.
func (c *conn) enqueue(frame []byte) bool { return c.enqueueFrame(frame, false) }

// enqueueDirect queues a frame past a hold: the history read's own replies.
func (c *conn) enqueueDirect(frame []byte) bool { return c.enqueueFrame(frame, true) }

// hold makes Send keep frames back until release: a history read answers
// first, then what was delivered live meanwhile follows, in order.
func (c *conn) hold() {
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
}

// release ends a hold and queues the frames it kept back.
func (c *conn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = false
	if len(c.held) == 0 || c.closed {
		c.held = nil
		return
	}
	c.queue = append(c.queue, c.held...)
	c.held = nil
	if !c.writing {
		c.writing = true
		c.workers.Add(1)
		go c.write()
	}
}

func (c *conn) enqueueFrame(frame []byte, direct bool) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if c.queued == 0 && len(frame) > c.limits.SendQueue {
		// One frame bigger than the whole queue (a welcome with a roster of
		// thousands) says nothing about how fast the client reads: take it,
		// and let the limit apply on top of it until it is written.
		c.oversize = len(frame)
	}
	if c.queued+len(frame) > c.limits.SendQueue+c.oversize {
		queued := c.queued
		c.mu.Unlock()
		c.ctx.log.Warn().Int("queuedBytes", queued).Int("limit", c.limits.SendQueue).
			Msg("slow client: send queue full; closing with 4008")
		c.closeSlow()
		return false
	}
	c.queued += len(frame)
	c.delivered++
	if c.holding && !direct {
		c.held = append(c.held, frame)
		c.mu.Unlock()
		return true
	}
	c.queue = append(c.queue, frame)
	if !c.writing {
		c.writing = true
		c.workers.Add(1)
		go c.write()
	}
	c.mu.Unlock()
	return true
}

// write is the writer goroutine: it drains the queue in batches and exits
// when the queue is empty, so an idle connection has no writer.
func (c *conn) write() {
	defer c.workers.Done()
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			code, reason := c.closeCode, c.closeReason
			c.closeCode = 0
			c.writing = false
			c.mu.Unlock()
			if code != 0 {
				_ = c.ws.Close(websocket.StatusCode(code), reason)
			}
			return
		}
		batch := c.queue
		c.queue, c.spare = c.spare[:0], nil
		c.mu.Unlock()

		// Several frames go to the socket in one write (see cork.go).
		cork := c.cork != nil && len(batch) > 1
		if cork {
			c.cork.cork()
		}
		n := 0
		for i, f := range batch {
			// A background context keeps timers off the hot path: a stalled
			// write is ended by the slow-client policy or the keepalive.
			if err := c.ws.Write(context.Background(), websocket.MessageText, f); err != nil {
				if cork {
					_ = c.cork.uncork()
				}
				c.closeNow()
				return
			}
			n += len(f)
			batch[i] = nil
		}
		if cork {
			if err := c.cork.uncork(); err != nil {
				c.closeNow()
				return
			}
		}

		c.mu.Lock()
		c.queued -= n
		if c.queued <= c.limits.SendQueue {
			c.oversize = 0 // the big frame is out
		}
		if cap(batch) <= 64 { // keep a small batch for reuse; let big ones go
			c.spare = batch[:0]
		}
		c.mu.Unlock()
	}
}

// keepalive pings the client; a missing pong closes the connection.
func (c *conn) keepalive() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.workers.Add(1)
	c.mu.Unlock()
	defer c.workers.Done()

	ctx, cancel := context.WithTimeout(c.ctx.ctx, c.limits.PongTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		if c.ctx.ctx.Err() == nil {
			c.ctx.log.Info().Err(err).Msg("keepalive: no pong in time; closing")
		}
		c.closeNow()
		return
	}
	c.mu.Lock()
	if !c.closed {
		c.ping.Reset(c.limits.PingInterval)
	}
	c.mu.Unlock()
}

// goAway closes the connection with 1001 for a server shutdown: at once
// when it is idle, or as soon as its running handler returns, so the
// handler's replies are delivered first.
func (c *conn) goAway() {
	c.mu.Lock()
	if c.busy {
		c.goingAway = true
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.closeWith(CloseGoingAway, c.app.goingAwayReason())
}

// closeWith closes the connection with code and reason once the frames
// already queued are written; nothing queued later is sent. It returns at
// once; the handshake is bounded by the WebSocket library (5 s per step).
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.closeCode, c.closeReason = code, truncate(reason)
	if !c.writing {
		c.writing = true
		c.workers.Add(1)
		go c.write()
	}
}

// closeSlow closes a client that does not read: it leaves the hub at once,
// its queue is dropped, and the close handshake (which a stalled client sees
// only if it reads again within the library's 5 s) runs in the background.
func (c *conn) closeSlow() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.queue, c.spare, c.held = nil, nil, nil
	c.workers.Add(1)
	c.mu.Unlock()
	c.mount.stats.slow.Add(1)
	go func() {
		defer c.workers.Done()
		// Leave the roster and stop receiving at once: peers see the leave
		// now, not after the handshake below times out on a stalled socket.
		// (Send runs under a hub lock, so this cannot happen there.)
		c.app.hub.Detach(c.hc)
		_ = c.ws.Close(CloseSlowClient, "send queue full: client reads too slowly")
	}()
}

func truncate(reason string) string {
	if len(reason) > 123 { // the close frame's payload limit
		return reason[:123]
	}
	return reason
}

// closeNow cuts the connection without a handshake and cancels its
// context, so handlers waiting on Ctx.Context() return.
func (c *conn) closeNow() {
	c.mu.Lock()
	c.closed = true
	c.queue, c.spare, c.held = nil, nil, nil
	cancel := c.cancel
	c.mu.Unlock()
	_ = c.ws.CloseNow()
	if cancel != nil {
		cancel()
	}
}

// closeWait bounds how long teardown waits for a close handshake in
// progress before it cuts the connection.
const closeWait = 2 * time.Second

// shutdown ends the connection and waits for its writer, pinger and closer.
// A close handshake already started (a rejection, a slow client, a server
// shutdown) gets up to closeWait to deliver its code before the cut.
func (c *conn) shutdown() {
	c.mu.Lock()
	c.closed = true // a flushing close in progress keeps its queue
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.mu.Unlock()
	c.ping.Stop()
	done := make(chan struct{})
	go func() {
		c.workers.Wait()
		close(done)
	}()
	t := time.NewTimer(closeWait)
	select {
	case <-done:
	case <-t.C:
		_ = c.ws.CloseNow()
		<-done
	}
	t.Stop()
	_ = c.ws.CloseNow()
}
