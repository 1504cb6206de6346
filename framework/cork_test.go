package mega

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

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
// real WebSocket from a channel: every frame arrives, intact and in order.
// The cork itself is tested in framework/internal/transport.
func TestCorkedBatchesArriveWholeAndInOrder(t *testing.T) {
	app := NewApp("cork")
	app.Channel("/ws", burst{})
	srv := serveApp(t, app)
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
}
