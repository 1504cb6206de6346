package mega_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/config"
	"github.com/megaframework/mega/internal/testkit"
)

// stormClient is a bare client: dial, read the welcome, then read until
// the server closes the connection.
type stormClient struct {
	ws     *websocket.Conn
	closed chan websocket.StatusCode
}

func dialStorm(ctx context.Context, url string) (*stormClient, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	// Other clients' presence.join frames may come before our welcome.
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			ws.CloseNow()
			return nil, err
		}
		if len(data) >= 18 && string(data[:18]) == `{"type":"welcome",` {
			break
		}
	}
	c := &stormClient{ws: ws, closed: make(chan websocket.StatusCode, 1)}
	go func() {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				c.closed <- websocket.CloseStatus(err)
				return
			}
		}
	}()
	return c, nil
}

// connectAll dials n clients at once (one goroutine each, released
// together), retrying failed dials with a short jittered backoff as the
// browser client does, and returns them with how long the last one took.
func connectAll(t *testing.T, url string, n int) ([]*stormClient, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clients := make([]*stormClient, n)
	var failures atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for attempt := 0; ; attempt++ {
				c, err := dialStorm(ctx, fmt.Sprintf("%s/ws/chat?name=u%d", url, i))
				if err == nil {
					clients[i] = c
					return
				}
				if failures.Add(1) <= 3 {
					t.Logf("dial %d attempt %d: %v (retrying)", i, attempt, err)
				}
				if ctx.Err() != nil {
					return
				}
				time.Sleep(time.Duration(10+i%90) * time.Millisecond * time.Duration(min(attempt+1, 10)))
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	for i, c := range clients {
		if c == nil {
			t.Fatalf("client %d of %d was never served within 60s (%d failed attempts in all)", i, n, failures.Load())
		}
	}
	t.Logf("%d clients connected in %s (%d failed attempts retried)", n, took, failures.Load())
	return clients, took
}

// stormApps mounts the chat channel without presence frames: with them,
// n simultaneous joins cost n² presence.join frames (25 million at 5,000),
// which is a different test (and a documented limit) — this one is about
// upgrades, auth and roster joins under a storm.
var stormApps = mega.Apps{"main": func(env *mega.Env) (*mega.App, error) {
	app := env.NewApp()
	app.Channel("/ws/chat", newChat(), mega.WithAuth(auth))
	return app, nil
}}

// TestReconnectStorm restarts an instance under n connected clients, which
// all reconnect at the same moment; every one is served again.
func TestReconnectStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 connections")
	}
	is := is.New(t)
	n := 5000
	if raceEnabled {
		n = 1000
	}
	port := testkit.FreePort(t)
	boot := func() *mega.Instance {
		cfg, err := config.Parse([]byte(fmt.Sprintf(`
server: { addr: "127.0.0.1:%d", shutdownTimeout: 20s }
logger: { level: error }
websocket: { maxConnectionsPerIP: -1, maxConnectionsPerUser: -1 }
`, port)), nil)
		is.NoErr(err)
		inst, err := mega.Boot(context.Background(), cfg, stormApps)
		is.NoErr(err)
		return inst
	}
	url := fmt.Sprintf("ws://127.0.0.1:%d", port)

	first := boot()
	clients, _ := connectAll(t, url, n)
	is.Equal(len(first.App("main").List("/ws/chat")), n)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	is.NoErr(first.Shutdown(ctx))
	for _, c := range clients {
		is.Equal(<-c.closed, websocket.StatusGoingAway)
	}

	second := boot()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = second.Shutdown(ctx)
	}()
	again, took := connectAll(t, url, n)
	is.Equal(len(second.App("main").List("/ws/chat")), n)
	t.Logf("reconnect storm: %d clients served again in %s", n, took)
	for _, c := range again {
		c.ws.Close(websocket.StatusNormalClosure, "")
		<-c.closed
	}
	resp, err := http.Get(second.URL() + "/readyz")
	is.NoErr(err)
	resp.Body.Close()
	is.Equal(resp.StatusCode, http.StatusOK)
}
