package transport

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/matryer/is"
)

// recordingConn records every write that reaches the "socket".
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	err    error
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func TestCorkCoalescesWrites(t *testing.T) {
	is := is.New(t)
	under := &recordingConn{}
	c := &corkConn{Conn: under}

	_, _ = c.Write([]byte("a")) // not corked: straight through
	c.cork()
	for _, s := range []string{"b", "c", "d"} {
		n, err := c.Write([]byte(s))
		is.NoErr(err)
		is.Equal(n, 1)
	}
	is.Equal(len(under.writes), 1) // corked writes wait
	is.NoErr(c.uncork())
	_, _ = c.Write([]byte("e"))
	is.Equal(fmt.Sprintf("%q", under.writes), `["a" "bcd" "e"]`)
	is.NoErr(c.uncork()) // uncork without cork is a no-op
}

func TestCorkFlushesAtLimit(t *testing.T) {
	is := is.New(t)
	under := &recordingConn{}
	c := &corkConn{Conn: under}
	c.cork()
	chunk := bytes.Repeat([]byte("x"), 1000)
	for range 40 {
		_, _ = c.Write(chunk)
	}
	is.NoErr(c.uncork())
	total := 0
	for _, w := range under.writes {
		is.True(len(w) <= corkLimit+len(chunk)) // no write holds much more than the limit
		total += len(w)
	}
	is.Equal(total, 40_000)
	is.True(len(under.writes) >= 2) // flushed on the way
}

func TestCorkReportsWriteErrors(t *testing.T) {
	is := is.New(t)
	boom := errors.New("boom")
	under := &recordingConn{err: boom}
	c := &corkConn{Conn: under}
	c.cork()
	_, _ = c.Write([]byte("held back"))
	is.True(errors.Is(c.uncork(), boom))
	// The error of a flush at the limit is returned by the next writes too.
	c.cork()
	_, err := c.Write(bytes.Repeat([]byte("x"), corkLimit))
	is.True(errors.Is(err, boom)) // the write that flushed
	_, err = c.Write([]byte("y"))
	is.True(errors.Is(err, boom)) // a write after the failed flush
	is.True(errors.Is(c.uncork(), boom))
}

func TestWithCorkLeavesUnhijackableWritersAlone(t *testing.T) {
	is := is.New(t)
	rec := httptest.NewRecorder() // not an http.Hijacker
	w, cw := withCork(rec)
	is.True(w == rec)
	is.True(cw == nil)
}
