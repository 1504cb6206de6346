package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matryer/is"
	"go.uber.org/goleak"

	"github.com/megaframework/mega/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait is how long a test waits for something that should happen at once.
const wait = 10 * time.Second

// owner records what a connection reports; handle, when set, runs for
// every frame.
type owner struct {
	handle     func(c *Conn, typ websocket.MessageType, data []byte)
	c          *Conn
	handled    atomic.Int64
	slow       chan int
	cut        chan struct{}
	pongMissed chan error
}

func newOwner() *owner {
	return &owner{slow: make(chan int, 16), cut: make(chan struct{}, 16), pongMissed: make(chan error, 16)}
}

func (o *owner) Handle(typ websocket.MessageType, data []byte) {
	o.handled.Add(1)
	if o.handle != nil {
		o.handle(o.c, typ, data)
	}
}

func (o *owner) Slow(queued int)      { o.slow <- queued }
func (o *owner) Cut()                 { o.cut <- struct{}{} }
func (o *owner) PongMissed(err error) { o.pongMissed <- err }

// socket counts the writes that reach a server socket, and the pings among
// them (an unmasked final ping frame starts with 0x89).
type socket struct {
	net.Conn
	writes, pings *atomic.Int64
}

func (s socket) Write(p []byte) (int, error) {
	s.writes.Add(1)
	if len(p) > 0 && p[0] == 0x89 {
		s.pings.Add(1)
	}
	return s.Conn.Write(p)
}

type listener struct {
	net.Listener
	writes, pings atomic.Int64
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return socket{Conn: c, writes: &l.writes, pings: &l.pings}, nil
}

// served is one server connection under test.
type served struct {
	c      *Conn
	sock   *listener
	ctx    context.Context // the connection's, cancelled by CloseNow
	err    error           // what Serve returned, once done is closed
	done   chan struct{}   // closed once Serve returned and Teardown is done
	client *websocket.Conn
}

// serve starts a server whose one connection runs with opts and reports to
// o, and dials it. The connection runs as package mega runs it: on its own
// goroutine, keepalive (when asked) then Serve, then Teardown.
func serve(t *testing.T, opts Options, o *owner, keepalive bool) *served {
	t.Helper()
	s := &served{done: make(chan struct{})}
	accepted := make(chan *Conn, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil, opts, o)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		c.SetContext(ctx, cancel)
		o.c, s.ctx = c, ctx
		accepted <- c
		go func() {
			defer close(s.done)
			defer cancel()
			if keepalive {
				c.StartKeepalive()
			}
			s.err = c.Serve()
			c.Teardown()
		}()
	}))
	s.sock = &listener{Listener: srv.Listener}
	srv.Listener = s.sock
	srv.Start()
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	client, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	client.SetReadLimit(-1)
	s.client = client
	select {
	case s.c = <-accepted:
	case <-time.After(wait):
		t.Fatal("the server accepted no connection")
	}
	t.Cleanup(func() {
		_ = client.CloseNow()
		s.wait(t)
	})
	return s
}

// wait waits for the server connection to end and returns Serve's error.
func (s *served) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-s.done:
		return s.err
	case <-time.After(wait):
		t.Fatal("the server connection did not end")
		return nil
	}
}

// read reads the client's next frame.
func (s *served) read(t *testing.T) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, b, err := s.client.Read(ctx)
	return string(b), err
}

// expectFrames reads want in order.
func (s *served) expectFrames(t *testing.T, want ...string) {
	t.Helper()
	for i, w := range want {
		got, err := s.read(t)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got != w {
			t.Fatalf("frame %d = %.40q (%d bytes), want %.40q (%d bytes)", i, got, len(got), w, len(w))
		}
	}
}

// expectClose reads until the connection ends and checks its close status
// (-1: cut without a close frame).
func (s *served) expectClose(t *testing.T, code websocket.StatusCode) websocket.CloseError {
	t.Helper()
	for {
		_, err := s.read(t)
		if err == nil {
			continue
		}
		if got := websocket.CloseStatus(err); got != code {
			t.Fatalf("closed with %d (%v), want %d", got, err, code)
		}
		var ce websocket.CloseError
		errors.As(err, &ce)
		return ce
	}
}

// testOptions are roomy limits for tests that set only what they test.
func testOptions() Options {
	return Options{ReadLimit: 64 << 10, SendQueue: 1 << 20, PingInterval: time.Hour, PongTimeout: time.Hour,
		MessagesPerSecond: 1000, Burst: 1000}
}

// receive waits for a value on ch.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("no %s", what)
		var zero T
		return zero
	}
}

// A client that stops reading fills its queue: the frame that would pass
// the limit is dropped and the client is cut with 4008; Cut runs, nothing
// more is queued, and the client sees the code once it reads again.
func TestSlowClientIsCut(t *testing.T) {
	is := is.New(t)
	opts := testOptions()
	opts.SendQueue = 64 << 10
	o := newOwner()
	s := serve(t, opts, o, false)
	frame := bytes.Repeat([]byte("x"), 16<<10)
	deadline := time.Now().Add(wait)
	for s.c.Enqueue(frame) { // the client reads nothing
		if time.Now().After(deadline) {
			t.Fatal("the send queue never filled")
		}
	}
	queued := receive(t, o.slow, "Slow")
	is.True(queued > opts.SendQueue-len(frame)) // the frame did not fit
	is.True(queued <= opts.SendQueue)
	receive(t, o.cut, "Cut")
	is.True(!s.c.Enqueue([]byte("after")))
	is.True(s.c.Closed())
	ce := s.expectClose(t, CloseSlowClient)
	is.Equal(ce.Reason, "send queue full: client reads too slowly")
	s.wait(t)
	is.Equal(len(o.cut), 0) // Cut ran once
}

// One frame bigger than the whole queue is taken when nothing is queued,
// and the limit applies on top of it until it is written. The frames are
// held, so the writer drains nothing while the rule is checked.
func TestQueueLimit(t *testing.T) {
	const limit = 4 << 10
	big, small := 64<<10, 1<<10
	cases := []struct {
		name  string
		sizes []int
		cut   bool // the last frame is refused and the client cut
	}{
		{"frames up to the limit", []int{small, small, small, small}, false},
		{"one frame past the limit", []int{small, small, small, small, 1}, true},
		{"a big frame on an empty queue", []int{big}, false},
		{"a big frame, then the limit on top of it", []int{big, small, small, small, small}, false},
		{"a big frame, then past the limit on top of it", []int{big, small, small, small, small, 1}, true},
		{"a big frame after a small one", []int{small, big}, true},
		{"two big frames", []int{big, big}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			opts := testOptions()
			opts.SendQueue = limit
			o := newOwner()
			s := serve(t, opts, o, false)
			s.c.Hold()
			var frames []string
			for i, n := range tc.sizes {
				f := strings.Repeat(string(rune('a'+i)), n)
				ok := s.c.Enqueue([]byte(f))
				last := i == len(tc.sizes)-1
				is.Equal(ok, !(last && tc.cut)) // queued unless it is the frame that cuts
				if ok {
					frames = append(frames, f)
				}
			}
			s.c.Release()
			if tc.cut {
				receive(t, o.cut, "Cut")
				s.expectClose(t, CloseSlowClient) // the held frames were dropped
				return
			}
			s.expectFrames(t, frames...)
			is.Equal(len(o.slow), 0)
		})
	}
}

// Once the big frame is written, the limit is SendQueue again, and another
// big frame is taken on the empty queue.
func TestQueueLimitAfterABigFrame(t *testing.T) {
	is := is.New(t)
	opts := testOptions()
	opts.SendQueue = 4 << 10
	s := serve(t, opts, newOwner(), false)
	big := strings.Repeat("b", 64<<10)
	for range 2 {
		is.True(s.c.Enqueue([]byte(big)))
		s.expectFrames(t, big)
		testkit.WaitFor(t, wait, "the queue to empty", func() bool {
			s.c.mu.Lock()
			defer s.c.mu.Unlock()
			return s.c.queued == 0 && s.c.oversize == 0
		})
	}
}

// A batch of several frames reaches the socket in a few writes, each frame
// still its own message, in order; a batch of one is written directly.
func TestCorkedBatch(t *testing.T) {
	is := is.New(t)
	s := serve(t, testOptions(), newOwner(), false)
	s.c.Hold() // the frames make one batch at Release
	want := make([]string, 500)
	for i := range want {
		want[i] = fmt.Sprintf(`{"n":%d}`, i)
		is.True(s.c.Enqueue([]byte(want[i])))
	}
	before := s.sock.writes.Load()
	s.c.Release()
	s.expectFrames(t, want...)
	is.True(s.sock.writes.Load()-before <= 2) // ~5 KB in one write, not 500

	before = s.sock.writes.Load()
	is.True(s.c.Enqueue([]byte("one")))
	s.expectFrames(t, "one")
	is.Equal(s.sock.writes.Load()-before, int64(1))
}

// Keepalive pings a peer that answers for as long as it does, and cuts
// one that stops answering.
func TestKeepalive(t *testing.T) {
	opts := testOptions()
	opts.PingInterval, opts.PongTimeout = 10*time.Millisecond, 100*time.Millisecond

	t.Run("a peer that answers stays", func(t *testing.T) {
		is := is.New(t)
		o := newOwner()
		opts := opts
		opts.PongTimeout = wait // a loaded machine may answer late; only a missing pong counts here
		s := serve(t, opts, o, true)
		s.client.CloseRead(context.Background()) // reads, and so answers pings
		testkit.WaitFor(t, wait, "5 pings", func() bool { return s.sock.pings.Load() >= 5 })
		is.True(!s.c.Closed())
		is.Equal(len(o.pongMissed), 0)
	})
	t.Run("a peer that does not answer is cut", func(t *testing.T) {
		is := is.New(t)
		o := newOwner()
		s := serve(t, opts, o, true) // the client never reads, so never answers
		err := receive(t, o.pongMissed, "PongMissed")
		is.True(errors.Is(err, context.DeadlineExceeded))
		is.True(s.wait(t) != nil)
		is.True(s.ctx.Err() != nil) // cut at once: the context is cancelled
	})
	t.Run("no ping before StartKeepalive", func(t *testing.T) {
		is := is.New(t)
		s := serve(t, opts, newOwner(), false)
		s.c.mu.Lock()
		is.True(s.c.ping == nil)
		s.c.mu.Unlock()
		s.c.Close(int(websocket.StatusNormalClosure), "")
		s.expectClose(t, websocket.StatusNormalClosure)
		s.wait(t)
		s.c.StartKeepalive() // closed: does nothing
		s.c.mu.Lock()
		is.True(s.c.ping == nil)
		s.c.mu.Unlock()
	})
}

// A frame over the read limit ends the connection with 1009.
func TestReadLimit(t *testing.T) {
	is := is.New(t)
	opts := testOptions()
	opts.ReadLimit = 1 << 10
	o := newOwner()
	s := serve(t, opts, o, false)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	is.NoErr(s.client.Write(ctx, websocket.MessageText, bytes.Repeat([]byte("x"), 1<<10))) // at the limit: read
	is.NoErr(s.client.Write(ctx, websocket.MessageText, bytes.Repeat([]byte("x"), 1<<10+1)))
	s.expectClose(t, websocket.StatusMessageTooBig)
	is.True(errors.Is(s.wait(t), websocket.ErrMessageTooBig))
	is.Equal(o.handled.Load(), int64(1))
	is.Equal(s.c.Received(), uint64(1))
}

// A client over its rate is closed with 4029 once the replies already
// queued are written.
func TestRateLimit(t *testing.T) {
	is := is.New(t)
	opts := testOptions()
	opts.MessagesPerSecond, opts.Burst = 1e-6, 2
	o := newOwner()
	o.handle = func(c *Conn, _ websocket.MessageType, data []byte) { c.Send(bytes.Clone(data)) }
	s := serve(t, opts, o, false)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, m := range []string{"1", "2", "3"} {
		is.NoErr(s.client.Write(ctx, websocket.MessageText, []byte(m)))
	}
	s.expectFrames(t, "1", "2")
	ce := s.expectClose(t, CloseRateLimited)
	is.Equal(ce.Reason, "rate limit exceeded")
	is.True(errors.Is(s.wait(t), ErrRateLimited))
	is.Equal(o.handled.Load(), int64(2))
	is.Equal(s.c.Received(), uint64(3))
	is.Equal(s.c.Delivered(), uint64(2))
}

// During a hold, direct frames (a history read's replies) go out first,
// then the frames held back, then the later ones, in order.
func TestHoldAndRelease(t *testing.T) {
	is := is.New(t)
	s := serve(t, testOptions(), newOwner(), false)
	s.c.Hold()
	is.True(s.c.Enqueue([]byte("live 1")))
	is.True(s.c.Enqueue([]byte("live 2")))
	is.True(s.c.EnqueueDirect([]byte("history 1")))
	is.True(s.c.EnqueueDirect([]byte("history 2")))
	s.expectFrames(t, "history 1", "history 2") // while the hold lasts
	s.c.Release()
	is.True(s.c.Enqueue([]byte("live 3")))
	s.expectFrames(t, "live 1", "live 2", "live 3")
	is.Equal(s.c.Delivered(), uint64(5))
}

// The ways a connection ends, as the client sees them.
func TestClose(t *testing.T) {
	long := strings.Repeat("r", 200)
	cases := []struct {
		name   string
		close  func(c *Conn)
		frames []string // queued before the close and delivered
		code   websocket.StatusCode
		reason string
		serve  error // what Serve returns, if not an error of the library
	}{
		{name: "Close flushes, then closes with the code",
			close:  func(c *Conn) { c.Close(4000, "bye") },
			frames: []string{"a", "b"}, code: 4000, reason: "bye"},
		{name: "Close cuts a long reason to what a close frame holds",
			close: func(c *Conn) { c.Close(4000, long) },
			code:  4000, reason: long[:123]},
		{name: "GoAway on an idle connection closes at once",
			close:  func(c *Conn) { c.GoAway(int(websocket.StatusGoingAway), "server shutting down") },
			frames: []string{"a"}, code: websocket.StatusGoingAway, reason: "server shutting down"},
		{name: "CloseNow cuts without a close frame",
			close: func(c *Conn) { c.CloseNow() },
			code:  -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			s := serve(t, testOptions(), newOwner(), false)
			if tc.frames != nil {
				s.c.Hold() // queued, not yet written: the close must flush them
				for _, f := range tc.frames {
					is.True(s.c.EnqueueDirect([]byte(f)))
				}
			}
			tc.close(s.c)
			is.True(!s.c.Enqueue([]byte("after the close")))
			s.c.Release()
			if tc.code != -1 {
				s.expectFrames(t, tc.frames...)
			}
			ce := s.expectClose(t, tc.code)
			if tc.code != -1 {
				is.Equal(ce.Reason, tc.reason)
			} else {
				is.True(s.ctx.Err() != nil) // CloseNow cancels the context
			}
			s.wait(t)
		})
	}
}

// GoAway during a frame's handling waits for the handler: its replies go
// out before the close.
func TestGoAwayWaitsForTheHandler(t *testing.T) {
	is := is.New(t)
	started, finish := make(chan struct{}), make(chan struct{})
	o := newOwner()
	o.handle = func(c *Conn, _ websocket.MessageType, _ []byte) {
		close(started)
		<-finish
		c.Send([]byte("reply"))
	}
	s := serve(t, testOptions(), o, false)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	is.NoErr(s.client.Write(ctx, websocket.MessageText, []byte("request")))
	receive(t, started, "handler start")
	s.c.GoAway(int(websocket.StatusGoingAway), "server shutting down")
	is.True(!s.c.Closed()) // not while the handler runs
	close(finish)
	s.expectFrames(t, "reply")
	ce := s.expectClose(t, websocket.StatusGoingAway)
	is.Equal(ce.Reason, "server shutting down")
	s.wait(t)
}

// A client that closes normally ends Serve without an error.
func TestClientCloses(t *testing.T) {
	is := is.New(t)
	s := serve(t, testOptions(), newOwner(), false)
	is.NoErr(s.client.Close(websocket.StatusNormalClosure, ""))
	is.NoErr(s.wait(t))
}

// A client that does not read holds a worker of the pool in a write once
// its socket is full; the others are still written at once, by another
// worker, even with a pool of one.
func TestStalledClientHoldsNoOne(t *testing.T) {
	is := is.New(t)
	saved := writers
	writers = newPool(1)
	t.Cleanup(func() { writers = saved }) // after the connections' cleanups below
	opts := testOptions()
	opts.SendQueue = 64 << 20
	stalled := serve(t, opts, newOwner(), false)
	healthy := serve(t, opts, newOwner(), false)

	frame := bytes.Repeat([]byte("x"), 16<<10) // under ownWriterAt: the pool writes it
	stuck := func() bool {
		writers.mu.Lock()
		defer writers.mu.Unlock()
		for w := range writers.workers {
			if since := w.since.Load(); since != 0 && time.Since(time.Unix(0, since)) > 10*stuckAfter {
				return true
			}
		}
		return false
	}
	testkit.WaitFor(t, wait, "a write to the stalled client to block", func() bool {
		is.True(stalled.c.Enqueue(frame)) // it reads nothing
		return stuck()
	})
	is.True(healthy.c.Enqueue([]byte("hello")))
	healthy.expectFrames(t, "hello")
	_ = stalled.client.CloseNow() // the blocked write fails, its worker ends
}

// Many connections share a pool of two workers: each gets all its frames,
// in order, and once they are written no worker is left.
func TestPoolWritesEveryConnectionInOrder(t *testing.T) {
	is := is.New(t)
	saved := writers
	writers = newPool(2)
	t.Cleanup(func() { writers = saved })
	conns := make([]*served, 40)
	for i := range conns {
		conns[i] = serve(t, testOptions(), newOwner(), false)
	}
	const frames = 50
	want := make([]string, frames)
	for n := range frames {
		want[n] = fmt.Sprintf(`{"n":%d}`, n)
		for _, s := range conns { // interleaved, as broadcasts come
			is.True(s.c.Enqueue([]byte(want[n])))
		}
	}
	for _, s := range conns {
		s.expectFrames(t, want...)
	}
	testkit.WaitFor(t, wait, "the workers to exit", func() bool {
		writers.mu.Lock()
		defer writers.mu.Unlock()
		return len(writers.workers) == 0 && len(writers.ready) == 0
	})
}

// A big frame into an idle connection (a welcome with a large roster) is
// written by a goroutine of its own: while its write is blocked on a client
// that does not read, no worker of the pool is busy with it.
func TestBigFrameHasItsOwnWriter(t *testing.T) {
	is := is.New(t)
	saved := writers
	writers = newPool(1)
	t.Cleanup(func() { writers = saved })
	stalled := serve(t, testOptions(), newOwner(), false)
	is.True(stalled.c.Enqueue(bytes.Repeat([]byte("w"), 32<<20))) // more than the socket buffers hold; the client reads nothing
	testkit.WaitFor(t, wait, "the big frame's write to begin", func() bool {
		stalled.c.mu.Lock()
		defer stalled.c.mu.Unlock()
		return len(stalled.c.queue) == 0 && stalled.c.queued > 0 // taken as a batch, not written
	})
	running, waiting := Writers()
	is.Equal(running, 0) // the pool is not writing it
	is.Equal(waiting, 0)
	_ = stalled.client.CloseNow() // the blocked write fails, its goroutine ends
}

// When every worker is busy, a connection waits; if the busy worker then
// stays in its write past stuckAfter and nothing else is queued, the
// pool's timer starts another worker for it.
func TestPoolTimerReplacesAStuckWorker(t *testing.T) {
	is := is.New(t)
	p := newPool(1)
	saved := writers
	writers = p
	t.Cleanup(func() { writers = saved })
	busy := &worker{} // stands for a worker in a write, not stuck until told
	busy.since.Store(time.Now().Add(time.Hour).UnixNano())
	p.mu.Lock()
	p.workers[busy] = struct{}{}
	p.mu.Unlock()
	t.Cleanup(func() {
		p.mu.Lock()
		delete(p.workers, busy)
		p.mu.Unlock()
	})

	s := serve(t, testOptions(), newOwner(), false)
	is.True(s.c.Enqueue([]byte("hello")))
	running, waiting := Writers()
	is.Equal(running, 1) // the pool is full:
	is.Equal(waiting, 1) // the connection waits (what mega_writers and mega_writes_waiting report)
	p.mu.Lock()
	armed := p.armed
	p.mu.Unlock()
	is.True(armed) // and the timer will look again

	busy.since.Store(time.Now().Add(-time.Second).UnixNano()) // its write has lasted too long
	s.expectFrames(t, "hello")                                // written by the worker the timer started
}

// The pool's default size leaves one P to the rest of the process, and
// follows GOMAXPROCS as it changes.
func TestPoolLimit(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range []struct{ size, procs, want int }{
		{0, 1, 1}, {0, 2, 1}, {0, 3, 2}, {0, 8, 7}, {3, 8, 3}, {1, 1, 1},
	} {
		t.Run(fmt.Sprintf("size=%d/GOMAXPROCS=%d", c.size, c.procs), func(t *testing.T) {
			runtime.GOMAXPROCS(c.procs)
			is.New(t).Equal(newPool(c.size).limit(), c.want)
		})
	}
}
