package transport

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
)

// Write coalescing. coder/websocket flushes every message to the socket
// with its own write(2); on loopback that syscall is ~80% of the CPU a
// delivery costs. When a connection's writer drains a batch of several
// frames, it corks the connection: the frames' bytes are collected in a
// pooled buffer and reach the socket in one write at uncork. Every frame is
// still its own WebSocket message; only the syscalls are shared. A batch of
// one frame is written directly, so an idle or lightly loaded connection
// sees no added latency.

// corkLimit bounds the bytes held back: a batch larger than this is written
// in corkLimit-sized pieces.
const corkLimit = 16 << 10

var corkPool = sync.Pool{New: func() any { b := make([]byte, 0, corkLimit); return &b }}

// corkConn is the hijacked connection under a WebSocket. Writes from any
// goroutine (frames, pongs, close frames) go through its lock, so bytes
// reach the socket in the order the library wrote them.
type corkConn struct {
	net.Conn
	mu  sync.Mutex
	buf *[]byte // non-nil while corked
	err error   // a failed write while corked, reported by uncork
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return c.Conn.Write(p)
	}
	if c.err != nil {
		return 0, c.err
	}
	b := *c.buf
	if len(b)+len(p) < corkLimit {
		*c.buf = append(b, p...)
		return len(p), nil
	}
	// The limit is reached: what was held back and p go to the socket now,
	// p from where it is. Copying it would grow the pooled buffer to the
	// size of the largest frame (a welcome carrying a roster of thousands
	// is a megabyte) and leave that much garbage per connection in a join
	// storm. net.Buffers makes it one writev on a TCP socket.
	if len(b) == 0 {
		_, c.err = c.Conn.Write(p)
	} else {
		bufs := net.Buffers{b, p}
		_, c.err = bufs.WriteTo(c.Conn)
	}
	*c.buf = b[:0]
	return len(p), c.err
}

// cork starts holding writes back.
func (c *corkConn) cork() {
	c.mu.Lock()
	if c.buf == nil {
		c.buf = corkPool.Get().(*[]byte)
	}
	c.mu.Unlock()
}

// uncork writes what was held back in one write and stops holding back.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buf
	if b == nil {
		return nil
	}
	c.buf = nil
	err := c.err
	if err == nil && len(*b) > 0 {
		_, err = c.Conn.Write(*b)
	}
	c.err = nil
	if cap(*b) <= corkLimit*2 {
		*b = (*b)[:0]
		corkPool.Put(b)
	}
	return err
}

// corkingWriter wraps a ResponseWriter so that the connection the WebSocket
// library hijacks is a corkConn.
type corkingWriter struct {
	http.ResponseWriter
	hj   http.Hijacker
	conn *corkConn
}

// withCork returns w wrapped so that a hijack yields a corkConn, or w itself
// when w cannot be hijacked (the library then refuses the upgrade as before).
func withCork(w http.ResponseWriter) (http.ResponseWriter, *corkingWriter) {
	for rw := w; ; {
		switch t := rw.(type) {
		case http.Hijacker:
			cw := &corkingWriter{ResponseWriter: w, hj: t}
			return cw, cw
		case interface{ Unwrap() http.ResponseWriter }:
			rw = t.Unwrap()
		default:
			return w, nil
		}
	}
}

func (w *corkingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := w.hj.Hijack()
	if err != nil {
		return conn, brw, err
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			return conn, brw, errors.Join(err, conn.Close())
		}
	}
	w.conn = &corkConn{Conn: conn}
	brw.Writer.Reset(w.conn) // the library writes through brw.Writer
	return w.conn, brw, nil
}
