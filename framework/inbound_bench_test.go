package mega

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkInbound measures one client's messages being read and handled
// by the server over a real loopback WebSocket: mega (read, decode the
// {"type","payload"} frame, rate limit, OnMessage) against the baseline of
// a coder/websocket server that only reads each message (ws.Read). The
// client writes in this process, so compare the two, not the absolute
// figures; allocs/op include the client's (the same for both).
func BenchmarkInbound(b *testing.B) {
	msg := []byte(`{"type":"chat.send","payload":{"text":"hello, everyone: a message of about a hundred bytes"}}`)
	for _, impl := range []string{"raw", "mega"} {
		b.Run("impl="+impl, func(b *testing.B) {
			var handled atomic.Int64
			var url string
			switch impl {
			case "raw":
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					ws, err := websocket.Accept(w, r, nil)
					if err != nil {
						return
					}
					defer ws.CloseNow()
					for {
						if _, _, err := ws.Read(context.Background()); err != nil {
							return
						}
						handled.Add(1)
					}
				}))
				b.Cleanup(srv.Close)
				url = srv.URL
			default:
				l := DefaultLimits()
				l.MessagesPerSecond, l.Burst = 1e9, 1e9
				app := NewApp("bench", WithLimits(l))
				app.Channel("/ws", countingChannel{&handled})
				url = serveApp(b, app).URL
			}
			ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(url, "http")+"/ws", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer ws.CloseNow()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := ws.Write(context.Background(), websocket.MessageText, msg); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.Now().Add(30 * time.Second)
			for handled.Load() < int64(b.N) {
				if time.Now().After(deadline) {
					b.Fatalf("handled %d of %d", handled.Load(), b.N)
				}
				time.Sleep(10 * time.Microsecond)
			}
		})
	}
}

// countingChannel counts the messages it handles.
type countingChannel struct{ n *atomic.Int64 }

func (countingChannel) OnConnect(*Ctx) error { return nil }
func (c countingChannel) OnMessage(_ *Ctx, msg Message) error {
	if msg.Type == "chat.send" {
		c.n.Add(1)
	}
	return nil
}
