package bus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/megaframework/mega/framework/bus"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const wait = 5 * time.Second

func open(t *testing.T, opts bus.Options) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", opts.URL, err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// subscribe subscribes to subject through b.Subscribe, as the framework
// does, and returns the channel its callback delivers into.
func subscribe(t *testing.T, b *bus.Bus, subject string) <-chan *nats.Msg {
	t.Helper()
	ch := make(chan *nats.Msg, 16)
	if _, err := b.Subscribe(subject, func(m *nats.Msg) { ch <- m }); err != nil {
		t.Fatalf("Subscribe(%q): %v", subject, err)
	}
	return ch
}

func receive(t *testing.T, ch <-chan *nats.Msg) *nats.Msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(wait):
		t.Fatalf("no message within %s", wait)
		return nil
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func TestEmbeddedRoundTripAndCloseLeavesNoGoroutines(t *testing.T) {
	is := is.New(t)
	b, err := bus.Open(context.Background(), bus.Options{URL: "embedded", Name: "mega/test/1"})
	is.NoErr(err)
	is.True(b.Embedded())
	is.True(b.Connected())
	is.True(strings.HasPrefix(b.ClientURL(), "nats://127.0.0.1:"))

	ch := subscribe(t, b, "mega.test.roundtrip")
	is.NoErr(b.Conn().Publish("mega.test.roundtrip", []byte("hello")))
	m := receive(t, ch)
	is.Equal(string(m.Data), "hello")

	// A second client can reach the embedded server through ClientURL.
	other, err := nats.Connect(b.ClientURL())
	is.NoErr(err)
	is.NoErr(other.Publish("mega.test.roundtrip", []byte("from outside")))
	is.NoErr(other.Flush())
	other.Close()
	is.Equal(string(receive(t, ch).Data), "from outside")

	is.NoErr(b.Close(context.Background()))
	is.True(!b.Connected())
	goleak.VerifyNone(t)
}

func TestEmbeddedFixedPort(t *testing.T) {
	is := is.New(t)
	port := testkit.FreePort(t)
	b := open(t, bus.Options{URL: "embedded", EmbeddedPort: port})
	is.Equal(b.ClientURL(), fmt.Sprintf("nats://127.0.0.1:%d", port))
	is.True(b.Connected())
}

func TestEmbeddedPortInUseFailsFast(t *testing.T) {
	is := is.New(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	is.NoErr(err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	start := time.Now()
	_, err = bus.Open(context.Background(), bus.Options{URL: "embedded", EmbeddedPort: port, ConnectTimeout: 3 * time.Second})
	is.True(err != nil)
	is.True(errors.Is(err, bus.ErrConnect))
	is.True(strings.Contains(err.Error(), fmt.Sprint(port)))
	is.True(time.Since(start) < 3*time.Second)
	t.Log(err)
}

func TestOpenRefusedURLFailsFast(t *testing.T) {
	is := is.New(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", testkit.FreePort(t))
	const timeout = 3 * time.Second

	start := time.Now()
	b, err := bus.Open(context.Background(), bus.Options{URL: url, ConnectTimeout: timeout, BusName: "main"})
	elapsed := time.Since(start)
	is.True(b == nil)
	is.True(err != nil)
	is.True(errors.Is(err, bus.ErrConnect))
	is.True(strings.Contains(err.Error(), url))
	is.True(strings.Contains(err.Error(), "services.buses.main.url"))
	is.True(strings.Contains(err.Error(), "NATS_URL"))
	is.True(strings.Contains(err.Error(), "(connection refused)"))
	is.True(errors.Is(err, syscall.ECONNREFUSED))
	is.True(errors.Is(err, nats.ErrNoServers))
	is.True(elapsed < timeout)
	t.Logf("failed after %s: %v", elapsed, err)
}

func TestOpenRefusedListNamesEveryURL(t *testing.T) {
	is := is.New(t)
	u1 := fmt.Sprintf("nats://127.0.0.1:%d", testkit.FreePort(t))
	u2 := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	_, err := bus.Open(context.Background(), bus.Options{URL: u1 + ", " + u2})
	is.True(errors.Is(err, bus.ErrConnect))
	is.True(strings.Contains(err.Error(), u1+",nats://"+u2+" ("))
	is.True(strings.Contains(err.Error(), u2+": connection refused"))
	t.Log(err)
}

func TestOpenSilentServerTimesOut(t *testing.T) {
	is := is.New(t)
	// A listener that never speaks NATS: the TCP connect succeeds but no
	// INFO ever arrives.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	is.NoErr(err)
	defer l.Close()
	url := "nats://" + l.Addr().String()

	const timeout = 300 * time.Millisecond
	start := time.Now()
	_, err = bus.Open(context.Background(), bus.Options{URL: url, ConnectTimeout: timeout})
	elapsed := time.Since(start)
	is.True(errors.Is(err, bus.ErrConnect))
	is.True(strings.Contains(err.Error(), url))
	is.True(elapsed < timeout+time.Second)
	t.Logf("failed after %s: %v", elapsed, err)
}

func TestOpenRejectsInvalidURLs(t *testing.T) {
	for _, url := range []string{"", "  ", "nats://127.0.0.1:4222,,nats://127.0.0.1:4223", "http://127.0.0.1:4222", "nats://"} {
		t.Run(url, func(t *testing.T) {
			is := is.New(t)
			_, err := bus.Open(context.Background(), bus.Options{URL: url})
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), "services.buses.<name>.url"))
			t.Log(err)
		})
	}
}

func TestOpenTrimsURLListAndRedactsPasswords(t *testing.T) {
	is := is.New(t)
	s := natstest.StartServer(t)
	u := natstest.URL(s)
	hostPort := strings.TrimPrefix(u, "nats://")

	b := open(t, bus.Options{URL: "  " + hostPort + " , " + u + " "})
	is.Equal(b.ClientURL(), "nats://"+hostPort+","+u)
	is.True(!b.Embedded())

	_, err := bus.Open(context.Background(), bus.Options{URL: fmt.Sprintf("nats://user:secret@127.0.0.1:%d", testkit.FreePort(t))})
	is.True(errors.Is(err, bus.ErrConnect))
	is.True(!strings.Contains(err.Error(), "secret"))

	_, err = bus.Open(context.Background(), bus.Options{URL: "nats://user:secret@127.0.0.1:4222, http://user:secret@x"})
	is.True(err != nil)
	is.True(!strings.Contains(err.Error(), "secret"))
}

func TestConnectionNameVisibleOnServer(t *testing.T) {
	is := is.New(t)
	s := natstest.StartServer(t)
	open(t, bus.Options{URL: natstest.URL(s), Name: "mega/chat/inst-1"})

	cz, err := s.Connz(&server.ConnzOptions{})
	is.NoErr(err)
	is.Equal(len(cz.Conns), 1)
	is.Equal(cz.Conns[0].Name, "mega/chat/inst-1")
}

func TestReconnectAfterServerRestart(t *testing.T) {
	is := is.New(t)
	s := natstest.StartServer(t)
	reconnected := make(chan struct{}, 1)
	disconnected := make(chan struct{}, 1)
	b := open(t, bus.Options{
		URL:          natstest.URL(s),
		OnReconnect:  func() { signal(reconnected) },
		OnDisconnect: func(error) { signal(disconnected) },
	})

	ch := subscribe(t, b, "mega.test.reconnect")
	is.NoErr(b.Conn().Flush())

	start := time.Now()
	s2 := natstest.Restart(t, s)
	is.Equal(natstest.URL(s2), natstest.URL(s))

	for name, c := range map[string]chan struct{}{"OnDisconnect": disconnected, "OnReconnect": reconnected} {
		select {
		case <-c:
		case <-time.After(wait):
			t.Fatalf("%s not called within %s", name, wait)
		}
	}
	t.Logf("reconnected %s after restart began", time.Since(start))
	is.True(b.Connected())
	// OnReconnect runs once subscriptions have been re-sent, not
	// necessarily processed: a round trip makes sure the server has them.
	is.NoErr(b.Conn().Flush())

	// The subscription made before the restart is restored on the new
	// server: a message published by another client after it arrives.
	pub, err := nats.Connect(natstest.URL(s2))
	is.NoErr(err)
	defer pub.Close()
	is.NoErr(pub.Publish("mega.test.reconnect", []byte("after restart")))
	is.NoErr(pub.Flush())
	is.Equal(string(receive(t, ch).Data), "after restart")
}

func TestCloseIsIdempotent(t *testing.T) {
	is := is.New(t)
	s := natstest.StartServer(t)
	disconnects := make(chan struct{}, 1)
	b, err := bus.Open(context.Background(), bus.Options{URL: natstest.URL(s), OnDisconnect: func(error) { signal(disconnects) }})
	is.NoErr(err)
	is.NoErr(b.Close(context.Background()))
	is.NoErr(b.Close(context.Background()))
	is.True(!b.Connected())
	is.True(b.Conn().IsClosed())
	select {
	case <-disconnects:
		t.Fatal("OnDisconnect called for a deliberate Close")
	default:
	}

	e, err := bus.Open(context.Background(), bus.Options{URL: "embedded"})
	is.NoErr(err)
	is.NoErr(e.Close(context.Background()))
	is.NoErr(e.Close(context.Background()))
}

func TestCloseWhileDisconnectedReturnsPromptly(t *testing.T) {
	is := is.New(t)
	s := natstest.StartServer(t)
	b := open(t, bus.Options{URL: natstest.URL(s)})
	s.Shutdown()
	s.WaitForShutdown()
	natstest.WaitFor(t, wait, "the bus to notice the server is gone", func() bool { return !b.Connected() })

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	is.NoErr(b.Close(ctx))
	is.True(time.Since(start) < time.Second)
	is.True(b.Conn().IsClosed())
}

func TestCloseWithExpiredContextStillCloses(t *testing.T) {
	is := is.New(t)
	b, err := bus.Open(context.Background(), bus.Options{URL: "embedded"})
	is.NoErr(err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = b.Close(ctx)
	// Draining may or may not finish before the cancelled context is seen.
	if err != nil {
		is.True(errors.Is(err, context.Canceled))
	}
	is.True(b.Conn().IsClosed())
}

// TestSlowConsumerLogged fills a callback subscription past its pending
// limit: NATS drops messages and the bus logs it, with the subject.
func TestSlowConsumerLogged(t *testing.T) {
	is := is.New(t)
	logs := &testkit.Buffer{}
	b := open(t, bus.Options{URL: "embedded", PendingMsgs: 1, Logger: zerolog.New(logs)})
	release := make(chan struct{})
	defer close(release)
	_, err := b.Subscribe("mega.test.slow", func(*nats.Msg) { <-release })
	is.NoErr(err)
	for range 10 {
		is.NoErr(b.Conn().Publish("mega.test.slow", []byte("x")))
	}
	is.NoErr(b.Conn().Flush())
	testkit.WaitFor(t, wait, "a slow consumer logged", func() bool {
		return strings.Contains(logs.String(), "bus: slow consumer, NATS messages dropped")
	})
	is.True(strings.Contains(logs.String(), `"subject":"mega.test.slow"`))
}

func TestSubscribeCallbackWithPendingLimits(t *testing.T) {
	is := is.New(t)
	b := open(t, bus.Options{URL: "embedded", PendingMsgs: 123, PendingBytes: 4567})
	got := make(chan string, 1)
	sub, err := b.Subscribe("mega.test.cb", func(m *nats.Msg) { got <- string(m.Data) })
	is.NoErr(err)
	msgs, bytes, err := sub.PendingLimits()
	is.NoErr(err)
	is.Equal(msgs, 123)
	is.Equal(bytes, 4567)
	is.NoErr(b.Conn().Publish("mega.test.cb", []byte("cb")))
	select {
	case s := <-got:
		is.Equal(s, "cb")
	case <-time.After(wait):
		t.Fatal("callback not called")
	}
}

func TestOpenHonoursCancelledContext(t *testing.T) {
	is := is.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := bus.Open(ctx, bus.Options{URL: "embedded"})
	is.True(errors.Is(err, context.Canceled))
}

func TestNoEchoSkipsOwnPublishesOnly(t *testing.T) {
	is := is.New(t)
	b, err := bus.Open(context.Background(), bus.Options{URL: "embedded", Name: "mega/test/noecho", NoEcho: true})
	is.NoErr(err)
	defer b.Close(context.Background())
	// A channel subscription: nats.go queues into ch on its reader, so
	// after a Flush the channel holds whatever the server sent.
	ch := make(chan *nats.Msg, 16)
	_, err = b.Conn().ChanSubscribe("mega.test.echo", ch)
	is.NoErr(err)
	is.NoErr(b.Conn().Flush())

	is.NoErr(b.Conn().Publish("mega.test.echo", []byte("own")))
	// Flush is a round trip on this connection: the server writes an echo
	// (if it sent one) before the PONG, and the client queues it into ch
	// before Flush returns.
	is.NoErr(b.Conn().Flush())
	is.Equal(len(ch), 0) // no echo of our own publish

	other, err := nats.Connect(b.ClientURL())
	is.NoErr(err)
	defer other.Close()
	is.NoErr(other.Publish("mega.test.echo", []byte("peer")))
	is.NoErr(other.Flush())
	m := receive(t, ch)
	is.Equal(string(m.Data), "peer") // a peer's publish still arrives
}
