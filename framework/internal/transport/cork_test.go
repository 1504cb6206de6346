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

func TestCorkWritesBigFramesWithoutCopy(t *testing.T) {
	is := is.New(t)
	under := &recordingConn{}
	c := &corkConn{Conn: under}
	c.cork()
	_, _ = c.Write([]byte("ab"))
	big := bytes.Repeat([]byte("x"), 10*corkLimit)
	n, err := c.Write(big)
	is.NoErr(err)
	is.Equal(n, len(big))
	is.True(cap(*c.buf) <= corkLimit) // the pooled buffer did not grow to the frame's size
	_, _ = c.Write([]byte("c"))
	is.NoErr(c.uncork())
	got := bytes.Join(under.writes, nil)
	is.Equal(len(got), 2+len(big)+1)
	is.Equal(string(got[:2]), "ab") // order kept: held bytes, the big frame, then the rest
	is.True(bytes.Equal(got[2:2+len(big)], big))
	is.Equal(string(got[len(got)-1:]), "c")
}

func TestCorkWritevOnTCP(t *testing.T) {
	is := is.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	is.NoErr(err)
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer s.Close()
		var all bytes.Buffer
		_, _ = all.ReadFrom(s)
		got <- all.Bytes()
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	is.NoErr(err)
	c := &corkConn{Conn: nc}
	c.cork()
	_, _ = c.Write([]byte("head"))
	big := bytes.Repeat([]byte("y"), 3*corkLimit)
	_, err = c.Write(big)
	is.NoErr(err)
	is.NoErr(c.uncork())
	is.NoErr(nc.Close())
	b := <-got
	is.Equal(len(b), 4+len(big))
	is.Equal(string(b[:4]), "head")
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
