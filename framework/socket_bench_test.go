package mega

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/megaframework/mega/internal/rawws"
	"github.com/megaframework/mega/internal/testkit"
)

// BenchmarkSocketFanout measures a broadcast delivered over real loopback
// WebSockets to n clients in this process, for mega and for the baseline:
// a minimal coder/websocket broadcast server (one writer goroutine per
// connection, the frame shared by all): internal/rawws, the server of the
// bench/rawws command. ns/delivery
// is the wall time per delivered frame with up to 16 broadcasts in flight;
// client reads are part of it (they run in this process), so compare the
// two implementations, not the absolute figure. The full-size comparison,
// with centrifuge and server CPU from /proc, is bench/run.sh.
func BenchmarkSocketFanout(b *testing.B) {
	frame := []byte(`{"type":"chat.message","payload":{"text":"hello, everyone: a message of about a hundred bytes"}}`)
	for _, n := range []int{100, 1000} {
		for _, impl := range []string{"raw", "mega"} {
			b.Run(fmt.Sprintf("impl=%s/subs=%d", impl, n), func(b *testing.B) {
				var broadcast func([]byte)
				var ready func() int
				var url string
				switch impl {
				case "raw":
					rs, err := rawws.New(rawws.Options{})
					if err != nil {
						b.Fatal(err)
					}
					srv := httptest.NewServer(rs)
					b.Cleanup(srv.Close)
					url, broadcast, ready = srv.URL, rs.Broadcast, rs.Conns
				default:
					l := DefaultLimits()
					l.MaxConnectionsPerIP = -1
					app := NewApp("bench", WithLimits(l))
					app.Channel("/ws", benchIdle{})
					url = serveApp(b, app).URL
					broadcast = func(f []byte) { app.hub.Broadcast("/ws", "", nil, f) }
					ready = func() int { return app.hub.LocalCount("/ws") }
				}
				var delivered atomic.Int64
				benchDial(b, "ws"+strings.TrimPrefix(url, "http")+"/ws", n, &delivered)
				if _, ok := testkit.Poll(10*time.Second, func() bool { return ready() >= n }); !ok {
					b.Fatalf("%d of %d clients attached", ready(), n)
				}
				benchFanout(b, n, broadcast, frame, &delivered)
			})
		}
	}
}

// benchIdle accepts every connection and ignores messages.
type benchIdle struct{}

func (benchIdle) OnConnect(*Ctx) error          { return nil }
func (benchIdle) OnMessage(*Ctx, Message) error { return nil }

// benchFanout broadcasts b.N frames with at most window in flight and waits
// until every client has every frame.
func benchFanout(b *testing.B, n int, broadcast func([]byte), frame []byte, delivered *atomic.Int64) {
	const window = 16
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for int64(i-window)*int64(n) > delivered.Load() {
			time.Sleep(20 * time.Microsecond)
		}
		broadcast(frame)
	}
	want := int64(b.N) * int64(n)
	deadline := time.Now().Add(30 * time.Second)
	for delivered.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("delivered %d of %d", delivered.Load(), want)
		}
		time.Sleep(20 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/delivery")
}

// benchDial connects n clients that count every frame they read.
func benchDial(b *testing.B, url string, n int, delivered *atomic.Int64) {
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	for i := range conns {
		c, _, err := websocket.Dial(context.Background(), url, nil)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 512)
			for {
				_, r, err := c.Reader(context.Background())
				if err != nil {
					return
				}
				for {
					if _, err := r.Read(buf); err == io.EOF {
						break
					} else if err != nil {
						return
					}
				}
				delivered.Add(1)
			}
		}()
	}
	b.Cleanup(func() {
		for _, c := range conns {
			c.CloseNow()
		}
		wg.Wait()
	})
}
