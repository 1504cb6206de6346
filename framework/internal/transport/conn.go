// Package transport runs one WebSocket connection of the framework: its
// send queue bounded in bytes and the writer that drains it (coalescing a
// batch's writes, cork.go), the keepalive pings, the read loop with its
// rate limit and pooled buffers (readbuf.go), the hold that lets a history
// read answer before live frames, and the ways a connection ends. It knows
// nothing of apps, channels, users or presence: package mega owns those and
// receives frames and events through the Owner interface. The rules are
// those of ADR 0003 (docs/adr/0003-send-queue-and-slow-clients.md).
//
// A connection ends in one of five ways:
//
//   - Close(code, reason) flushes what is already queued, then closes with
//     a handshake carrying code; nothing queued later is sent.
//   - GoAway(code, reason) is Close for a server shutdown: at once when no
//     frame is being handled, or as soon as the running Owner.Handle
//     returns, so that the handler's replies are delivered first.
//   - CloseNow cuts the socket without a handshake and cancels the
//     connection's context (SetContext). A failed write or a missing pong
//     ends a connection this way.
//   - A frame that would overflow the send queue cuts the connection as a
//     slow client: the queue is dropped, Owner.Cut runs, and a handshake
//     with CloseSlowClient (4008) is attempted in the background.
//   - Too many frames read too fast close it with CloseRateLimited (4029)
//     after a flush, like Close.
//
// Whichever it was, the owner calls Teardown once Serve returned: it waits
// for the connection's goroutines, bounding a handshake in progress.
package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Close codes the transport sends on its own.
const (
	// CloseSlowClient closes a client whose send queue overflowed.
	CloseSlowClient = 4008
	// CloseRateLimited closes a client that sent frames faster than its rate.
	CloseRateLimited = 4029
)

// ErrRateLimited is what Serve returns when the client exceeded its rate.
var ErrRateLimited = errors.New("mega: rate limit exceeded")

// closeWait bounds how long Teardown waits for a close handshake in
// progress before it cuts the connection.
const closeWait = 2 * time.Second

// Options are the limits of one connection.
type Options struct {
	// ReadLimit is the largest frame read, in bytes; a bigger one closes
	// the connection with 1009.
	ReadLimit int64
	// SendQueue bounds the bytes queued for the client (see Conn.Send).
	SendQueue int
	// PingInterval is the time between keepalive pings.
	PingInterval time.Duration
	// PongTimeout is how long a ping waits for its pong before the
	// connection is cut.
	PongTimeout time.Duration
	// MessagesPerSecond and Burst are the token bucket of the frames read.
	MessagesPerSecond float64
	Burst             int
}

// Owner is what a connection reports to; package mega's connection
// implements it.
type Owner interface {
	// Handle handles one frame read by Serve, on Serve's goroutine. data
	// is reused once Handle returns: nothing may keep it.
	Handle(typ websocket.MessageType, data []byte)
	// Slow is told that a frame of the connection would overflow its send
	// queue, which holds queued bytes: the connection is being cut. It runs
	// on the sending goroutine, often under the hub's lock, so it must
	// neither block nor call back into the hub.
	Slow(queued int)
	// Cut runs once, on a goroutine of its own, when the connection is cut
	// as a slow client, before the close handshake: the place to stop
	// delivering to it.
	Cut()
	// PongMissed is told that a keepalive ping got no pong in time while
	// the connection's context was live; the connection is then cut.
	PongMissed(err error)
}

// Conn is one WebSocket connection. Its reader is the goroutine that calls
// Serve; its frames are written by the process's pool of writers (pool.go)
// while any are queued; pings run from a timer. All of them are done when Teardown returns. Its methods are
// safe for concurrent use.
type Conn struct {
	ws    *websocket.Conn
	cork  *corkConn // the socket under ws, to coalesce a batch's writes (nil if unavailable)
	owner Owner
	opts  Options

	mu        sync.Mutex
	ctx       context.Context    // bounds pings; see SetContext
	cancel    context.CancelFunc // called by CloseNow
	queue     [][]byte           // frames waiting for the writer
	spare     [][]byte           // the writer's previous batch, reused to avoid allocation
	queued    int                // bytes in queue and in the batch being written
	oversize  int                // bytes a frame larger than SendQueue, queued when the queue was empty, adds to the limit
	writing   bool               // the connection is on the pool's list or being written
	closed    bool               // Send queues nothing more
	holding   bool               // a history read is running: Send keeps frames in held
	held      [][]byte           // frames kept back until Release
	busy      bool               // Owner.Handle is running
	goingAway bool               // GoAway asked to close once the running Handle returns
	// closeCode and closeReason are sent by the writer once the queue is
	// drained, when a flushing close was asked for; awayCode and
	// awayReason wait for the running Handle.
	closeCode   int
	closeReason string
	awayCode    int
	awayReason  string
	workers     sync.WaitGroup
	ping        *time.Timer // nil until StartKeepalive
	delivered   uint64      // frames queued

	// The rate limiter, used by Serve only: a token bucket refilled at
	// MessagesPerSecond.
	tokens float64
	last   time.Time

	received atomic.Uint64 // frames read
}

// Accept upgrades the request to a WebSocket connection with opts, whose
// frames and events go to owner. The socket under it is wrapped so that a
// writer's batch reaches it in one write (cork.go). On error Accept has
// answered the request.
func Accept(w http.ResponseWriter, r *http.Request, accept *websocket.AcceptOptions, opts Options, owner Owner) (*Conn, error) {
	rw, cw := withCork(w)
	ws, err := websocket.Accept(rw, r, accept)
	if err != nil {
		return nil, fmt.Errorf("transport: upgrade: %w", err)
	}
	ws.SetReadLimit(opts.ReadLimit)
	c := newConn(ws, opts, owner)
	if cw != nil {
		c.cork = cw.conn
	}
	return c, nil
}

func newConn(ws *websocket.Conn, opts Options, owner Owner) *Conn {
	return &Conn{ws: ws, owner: owner, opts: opts, ctx: context.Background(),
		tokens: float64(opts.Burst), last: time.Now()}
}

// SetContext gives the connection the context its owner's handlers see:
// keepalive pings are bounded by it, and CloseNow calls cancel.
func (c *Conn) SetContext(ctx context.Context, cancel context.CancelFunc) {
	c.mu.Lock()
	c.ctx, c.cancel = ctx, cancel
	c.mu.Unlock()
}

// Received returns the number of frames read so far.
func (c *Conn) Received() uint64 { return c.received.Load() }

// Delivered returns the number of frames queued so far.
func (c *Conn) Delivered() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.delivered
}

// Closed reports whether the connection queues nothing more: a close of
// any kind has begun.
func (c *Conn) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Send queues frame without blocking. When the queue would exceed the
// connection's SendQueue bytes the client is too slow: it is cut with
// CloseSlowClient and the frame is dropped. One frame bigger than
// SendQueue is taken when nothing is queued, and the limit applies on top
// of it until it is written. frame is shared (a broadcast's recipients all
// hold it) and must not be modified. Send implements hub.Client.
func (c *Conn) Send(frame []byte) { c.enqueue(frame, false) }

// Enqueue is Send reporting whether the frame was queued: false when the
// connection is closed or was just cut as too slow. While the connection
// holds (see Hold), frames wait, counted in the queue.
func (c *Conn) Enqueue(frame []byte) bool { return c.enqueue(frame, false) }

// EnqueueDirect queues a frame past a hold: the history read's own replies.
func (c *Conn) EnqueueDirect(frame []byte) bool { return c.enqueue(frame, true) }

// Hold makes Send keep frames back until Release: a history read answers
// first with EnqueueDirect, then what was delivered live meanwhile follows,
// in order.
func (c *Conn) Hold() {
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
}

// Release ends a hold and queues the frames it kept back.
func (c *Conn) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = false
	if len(c.held) == 0 || c.closed {
		c.held = nil
		return
	}
	c.queue = append(c.queue, c.held...)
	c.held = nil
	c.startWriter()
}

func (c *Conn) enqueue(frame []byte, direct bool) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if c.queued == 0 && len(frame) > c.opts.SendQueue {
		// One frame bigger than the whole queue (a welcome with a roster of
		// thousands) says nothing about how fast the client reads: take it,
		// and let the limit apply on top of it until it is written.
		c.oversize = len(frame)
	}
	if c.queued+len(frame) > c.opts.SendQueue+c.oversize {
		queued := c.queued
		c.mu.Unlock()
		c.owner.Slow(queued)
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
	if len(frame) >= ownWriterAt && !c.writing {
		// A big frame (a welcome with a large roster) takes milliseconds
		// to write: it gets a goroutine of its own rather than hold a
		// worker of the pool while many of them come at once (a join
		// storm).
		c.writing = true
		c.workers.Add(1)
		go func() {
			for c.writeBatch() {
			}
		}()
	}
	c.startWriter()
	c.mu.Unlock()
	return true
}

// ownWriterAt is the size from which a frame into an idle connection is
// written by a goroutine of its own instead of the pool.
const ownWriterAt = 64 << 10

// startWriter readies the connection for a writer of the pool (pool.go)
// unless one is on it; c.mu is held.
func (c *Conn) startWriter() {
	if !c.writing {
		c.writing = true
		c.workers.Add(1)
		writers.push(c)
	}
}

// writeBatch writes the frames queued, on a worker of the pool, and
// reports whether more were queued meanwhile: the pool then comes back to
// the connection after the others waiting. When it reports false the
// connection has no writer any more (an idle connection has none); a
// flushing close asked for then starts its handshake.
func (c *Conn) writeBatch() (more bool) {
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.idle()
		return false
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
			c.failed()
			return false
		}
		n += len(f)
		batch[i] = nil
	}
	if cork {
		if err := c.cork.uncork(); err != nil {
			c.failed()
			return false
		}
	}

	c.mu.Lock()
	c.queued -= n
	if c.queued <= c.opts.SendQueue {
		c.oversize = 0 // the big frame is out
	}
	if cap(batch) <= 64 { // keep a small batch for reuse; let big ones go
		c.spare = batch[:0]
	}
	if len(c.queue) == 0 {
		c.idle()
		return false
	}
	c.mu.Unlock()
	return true
}

// idle ends the connection's writer with its queue empty; c.mu is held and
// released. A flushing close's handshake waits for the client's answer, so
// it runs on a goroutine of its own, not on the pool's worker.
func (c *Conn) idle() {
	code, reason := c.closeCode, c.closeReason
	c.closeCode = 0
	c.writing = false
	if code != 0 {
		c.workers.Add(1)
	}
	c.mu.Unlock()
	if code != 0 {
		go func() {
			defer c.workers.Done()
			_ = c.ws.Close(websocket.StatusCode(code), reason)
		}()
	}
	c.workers.Done()
}

// failed ends the writer after a failed write: the connection is cut.
func (c *Conn) failed() {
	c.CloseNow()
	c.workers.Done()
}

// StartKeepalive starts pinging the client every PingInterval; a ping
// without a pong within PongTimeout cuts the connection. Pongs are read by
// Serve, so start it when Serve is about to run, not before (a ping during
// a long OnConnect would find no reader and cut a healthy connection). It
// does nothing once the connection is closed.
func (c *Conn) StartKeepalive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.ping != nil {
		return
	}
	c.ping = time.AfterFunc(c.opts.PingInterval, c.keepalive)
}

// keepalive pings the client; a missing pong closes the connection.
func (c *Conn) keepalive() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.workers.Add(1)
	parent := c.ctx
	c.mu.Unlock()
	defer c.workers.Done()

	ctx, cancel := context.WithTimeout(parent, c.opts.PongTimeout)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		if parent.Err() == nil {
			c.owner.PongMissed(err)
		}
		c.CloseNow()
		return
	}
	c.mu.Lock()
	if !c.closed {
		c.ping.Reset(c.opts.PingInterval)
	}
	c.mu.Unlock()
}

// Serve reads frames and hands each to Owner.Handle until the connection
// ends. It returns nil when the client closed normally or went away,
// ErrRateLimited when the client exceeded its rate (the connection is then
// closing with CloseRateLimited), and the library's read error otherwise,
// as is (one matching websocket.ErrMessageTooBig for a frame over
// ReadLimit, after which the library closed with 1009).
func (c *Conn) Serve() error {
	for {
		typ, data, err := c.readFrame() // see readbuf.go
		if err != nil {
			if s := websocket.CloseStatus(err); s == websocket.StatusNormalClosure || s == websocket.StatusGoingAway {
				return nil
			}
			return err
		}
		c.received.Add(1)
		if !c.allow() {
			releaseFrame(data)
			c.Close(CloseRateLimited, "rate limit exceeded")
			return ErrRateLimited
		}
		c.mu.Lock()
		c.busy = true
		c.mu.Unlock()
		c.owner.Handle(typ, *data)
		releaseFrame(data)
		c.mu.Lock()
		c.busy = false
		away, code, reason := c.goingAway, c.awayCode, c.awayReason
		c.mu.Unlock()
		if away {
			c.Close(code, reason)
		}
	}
}

// allow takes one token from the connection's bucket.
func (c *Conn) allow() bool {
	now := time.Now()
	c.tokens += now.Sub(c.last).Seconds() * c.opts.MessagesPerSecond
	c.last = now
	if max := float64(c.opts.Burst); c.tokens > max {
		c.tokens = max
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// GoAway closes the connection with code and reason for a server shutdown:
// at once (as Close) when no frame is being handled, or as soon as the
// running Owner.Handle returns, so the handler's replies are delivered
// first.
func (c *Conn) GoAway(code int, reason string) {
	c.mu.Lock()
	if c.busy {
		c.goingAway = true
		c.awayCode, c.awayReason = code, reason
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.Close(code, reason)
}

// Close closes the connection with code and reason once the frames
// already queued are written; nothing queued later is sent. It returns at
// once; the handshake is bounded by the WebSocket library (5 s per step)
// and by Teardown. A reason longer than a close frame allows is cut to
// its first 123 bytes. Close does nothing once the connection is closed.
func (c *Conn) Close(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.closeCode, c.closeReason = code, truncate(reason)
	c.startWriter()
}

// closeSlow cuts a client that does not read: Owner.Cut runs at once (the
// owner stops delivering to it), its queue is dropped, and the close
// handshake (which a stalled client sees only if it reads again within the
// library's 5 s) runs in the background.
func (c *Conn) closeSlow() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.queue, c.spare, c.held = nil, nil, nil
	c.workers.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.workers.Done()
		// Stop receiving at once: peers see the leave now, not after the
		// handshake below times out on a stalled socket. (Send may run
		// under the owner's locks, so this cannot happen there.)
		c.owner.Cut()
		_ = c.ws.Close(CloseSlowClient, "send queue full: client reads too slowly")
	}()
}

func truncate(reason string) string {
	if len(reason) > 123 { // the close frame's payload limit
		return reason[:123]
	}
	return reason
}

// CloseNow cuts the connection without a handshake, drops its queue and
// cancels its context (see SetContext), so handlers waiting on it return.
func (c *Conn) CloseNow() {
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

// Teardown ends the connection once Serve returned (or was never run) and
// waits for its writer, pinger and closer. A close handshake already
// started (a rejection, a slow client, a server shutdown) gets up to
// closeWait (2 s) to deliver its code before the cut.
func (c *Conn) Teardown() {
	c.mu.Lock()
	c.closed = true // a flushing close in progress keeps its queue
	ping := c.ping
	c.mu.Unlock()
	if ping != nil {
		ping.Stop()
	}
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
