package mega

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// countingConn records every write that reaches the "socket".
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	err    error
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func TestCorkCoalescesWrites(t *testing.T) {
	under := &countingConn{}
	c := &corkConn{Conn: under}

	_, _ = c.Write([]byte("a")) // not corked: straight through
	c.cork()
	for _, s := range []string{"b", "c", "d"} {
		if n, err := c.Write([]byte(s)); n != 1 || err != nil {
			t.Fatalf("corked Write = %d, %v", n, err)
		}
	}
	if len(under.writes) != 1 {
		t.Fatalf("corked writes reached the socket: %q", under.writes)
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte("e"))
	if got := fmt.Sprintf("%q", under.writes); got != `["a" "bcd" "e"]` {
		t.Fatalf("socket writes = %s", got)
	}
	if err := c.uncork(); err != nil { // uncork without cork is a no-op
		t.Fatal(err)
	}
}

func TestCorkFlushesAtLimit(t *testing.T) {
	under := &countingConn{}
	c := &corkConn{Conn: under}
	c.cork()
	chunk := bytes.Repeat([]byte("x"), 1000)
	for range 40 {
		_, _ = c.Write(chunk)
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, w := range under.writes {
		if len(w) > corkLimit+len(chunk) {
			t.Fatalf("a write of %d bytes exceeds the limit", len(w))
		}
		total += len(w)
	}
	if total != 40_000 || len(under.writes) < 2 {
		t.Fatalf("%d bytes in %d writes", total, len(under.writes))
	}
}

func TestCorkReportsWriteErrors(t *testing.T) {
	boom := errors.New("boom")
	under := &countingConn{err: boom}
	c := &corkConn{Conn: under}
	c.cork()
	_, _ = c.Write([]byte("held back"))
	if err := c.uncork(); !errors.Is(err, boom) {
		t.Fatalf("uncork = %v, want %v", err, boom)
	}
	// The error of a flush at the limit is returned by the next writes too.
	c.cork()
	if _, err := c.Write(bytes.Repeat([]byte("x"), corkLimit)); !errors.Is(err, boom) {
		t.Fatalf("Write at the limit = %v", err)
	}
	if _, err := c.Write([]byte("y")); !errors.Is(err, boom) {
		t.Fatalf("Write after a failed flush = %v", err)
	}
	if err := c.uncork(); !errors.Is(err, boom) {
		t.Fatalf("uncork = %v", err)
	}
}

func TestWithCorkLeavesUnhijackableWritersAlone(t *testing.T) {
	rec := httptest.NewRecorder() // not an http.Hijacker
	w, cw := withCork(rec)
	if w != rec || cw != nil {
		t.Fatalf("withCork wrapped a writer that cannot be hijacked")
	}
}

// burst sends n frames at once, so the writer drains them in batches.
type burst struct{}

func (burst) OnConnect(*Ctx) error { return nil }
func (burst) OnMessage(ctx *Ctx, msg Message) error {
	for i := range 500 {
		if err := ctx.Send("n", i); err != nil {
			return err
		}
	}
	return ctx.Send("done", nil)
}

// TestCorkedBatchesArriveWholeAndInOrder drives coalesced writes through a
// real WebSocket: every frame arrives, intact and in order.
func TestCorkedBatchesArriveWholeAndInOrder(t *testing.T) {
	app := NewApp("cork")
	app.Channel("/ws", burst{})
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"go"}`)); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("after %d frames: %v", i, err)
		}
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("frame %d is not a message: %q", i, b)
		}
		if m.Type == "done" {
			if i != 500 {
				t.Fatalf("done after %d frames, want 500", i)
			}
			break
		}
		if m.Type != "n" || string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("frame %d = %s", i, b)
		}
	}
	ws.Close(websocket.StatusNormalClosure, "")
	_ = app.Shutdown(ctx)
}
