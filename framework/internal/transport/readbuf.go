package transport

import (
	"context"
	"io"
	"sync"

	"github.com/coder/websocket"
)

// Reading without per-message allocation. websocket.Conn.Read allocates a
// fresh buffer for every message (io.ReadAll), and a cancellable context
// arms a context.AfterFunc on every read call: 9 of the 17 allocations a
// message cost. Messages are read instead into buffers from a pool, taken
// once a message has begun and returned once it is handled, so an idle
// connection holds none; the read takes no context, because a connection
// is ended by closing it (CloseNow, a close handshake), never by
// cancelling a read. Owner.Handle must not keep the bytes: json.Unmarshal copies
// what a Message keeps (strings and the RawMessage payload).

// maxPooledRead is the largest buffer returned to the pool.
const maxPooledRead = 64 << 10

var readPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// readFrame reads the next message into a pooled buffer. The caller hands
// the buffer back with releaseFrame once it is done with the bytes.
func (c *Conn) readFrame() (websocket.MessageType, *[]byte, error) {
	typ, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return 0, nil, err
	}
	bp := readPool.Get().(*[]byte)
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			*bp = b
			return typ, bp, nil
		}
		if err != nil {
			*bp = b
			releaseFrame(bp)
			return typ, nil, err
		}
	}
}

func releaseFrame(bp *[]byte) {
	if cap(*bp) <= maxPooledRead {
		*bp = (*bp)[:0]
		readPool.Put(bp)
	}
}
