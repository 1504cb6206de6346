package rawws_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matryer/is"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/internal/rawws"
	"github.com/megaframework/mega/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 5 * time.Second

// serve starts s on a test HTTP server and returns its ws:// URL.
func serve(t *testing.T, s *rawws.Server) string {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// client is a WebSocket client whose frames arrive on frames.
type client struct {
	ws     *websocket.Conn
	frames chan string
}

// dial connects to url; the client is closed, and its reader gone, when
// the test ends.
func dial(t *testing.T, url string) *client {
	t.Helper()
	ws, _, err := websocket.Dial(context.Background(), url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c := &client{ws: ws, frames: make(chan string, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, f, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			c.frames <- string(f)
		}
	}()
	t.Cleanup(func() {
		ws.CloseNow()
		<-done
	})
	return c
}

func (c *client) send(t *testing.T, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(text)); err != nil {
		t.Fatalf("send %q: %v", text, err)
	}
}

// next returns the client's next frame, failing after wait.
func (c *client) next(t *testing.T) string {
	t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(wait):
		t.Fatalf("no frame within %s", wait)
		return ""
	}
}

// ping returns once the server has read everything c sent before it.
func (c *client) ping(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.ws.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestBroadcast(t *testing.T) {
	tests := []struct {
		name    string
		opts    rawws.Options
		clients int
	}{
		{name: "default queue", clients: 3},
		{name: "queue of one", opts: rawws.Options{Queue: 1}, clients: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			s, err := rawws.New(tt.opts)
			is.NoErr(err)
			url := serve(t, s)
			var cs []*client
			for range tt.clients {
				cs = append(cs, dial(t, url))
			}
			testkit.WaitFor(t, wait, "every client attached", func() bool { return s.Conns() == tt.clients })

			cs[0].send(t, "hello")
			for _, c := range cs { // the sender too
				is.Equal(c.next(t), "hello")
			}
			s.Broadcast([]byte("from the server"))
			for _, c := range cs {
				is.Equal(c.next(t), "from the server")
			}

			cs[1].ws.CloseNow()
			testkit.WaitFor(t, wait, "the closed client removed", func() bool { return s.Conns() == tt.clients-1 })
		})
	}
}

// TestSlowClientDropped fills a client's queue: the server closes it
// rather than wait.
func TestSlowClientDropped(t *testing.T) {
	is := is.New(t)
	s, err := rawws.New(rawws.Options{Queue: 1})
	is.NoErr(err)
	url := serve(t, s)
	// A client that never reads: the writer blocks once the socket buffers
	// are full, the queue fills and the next broadcast drops it.
	ws, _, err := websocket.Dial(context.Background(), url, nil)
	is.NoErr(err)
	defer ws.CloseNow()
	testkit.WaitFor(t, wait, "the client attached", func() bool { return s.Conns() == 1 })
	big := []byte(strings.Repeat("x", 64<<10))
	testkit.WaitFor(t, 2*wait, "the slow client dropped", func() bool {
		s.Broadcast(big)
		return s.Conns() == 0
	})
}

// TestReaderMode checks that a reader-mode connection is read but never
// attached: nothing is broadcast to it.
func TestReaderMode(t *testing.T) {
	is := is.New(t)
	s, err := rawws.New(rawws.Options{Reader: true})
	is.NoErr(err)
	url := serve(t, s)
	c := dial(t, url)
	c.send(t, "hello")
	c.ping(t) // the server has read "hello": its handler runs
	is.Equal(s.Conns(), 0)
	s.Broadcast([]byte("nobody"))
	c.ping(t)
	is.Equal(len(c.frames), 0)
}

// TestNATSCluster runs two instances on one NATS server: a frame sent to
// one reaches the clients of both, and an instance skips its own echo.
func TestNATSCluster(t *testing.T) {
	is := is.New(t)
	ns := natstest.StartServer(t)
	var urls []string
	var servers []*rawws.Server
	for range 2 {
		nc, err := nats.Connect(natstest.URL(ns))
		is.NoErr(err)
		t.Cleanup(nc.Close)
		s, err := rawws.New(rawws.Options{NATS: nc, Subject: "rawws.test"})
		is.NoErr(err)
		t.Cleanup(func() { is.NoErr(s.Close()) })
		is.NoErr(nc.Flush()) // the subscription is on the server
		servers = append(servers, s)
		urls = append(urls, serve(t, s))
	}
	a, b := dial(t, urls[0]), dial(t, urls[1])
	testkit.WaitFor(t, wait, "both clients attached", func() bool {
		return servers[0].Conns() == 1 && servers[1].Conns() == 1
	})

	a.send(t, "hi")
	is.Equal(a.next(t), "hi") // delivered locally
	is.Equal(b.next(t), "hi") // through NATS
	// B's answer reaches A through NATS after A's own echo of "hi" would
	// have: the next frame A gets is the answer, not "hi" again.
	b.send(t, "hello back")
	is.Equal(b.next(t), "hello back")
	is.Equal(a.next(t), "hello back")
}
