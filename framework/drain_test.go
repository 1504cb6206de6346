package mega_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/internal/testkit"
)

// TestStopDrainsThenClosesWithARetryHint runs a process as mega.Main does
// and stops it as SIGTERM would: /readyz turns 503 while connections keep
// working, then every WebSocket closes with 1001 and a retry=<ms> hint, and
// Run returns within server.shutdownTimeout.
func TestStopDrainsThenClosesWithARetryHint(t *testing.T) {
	is := is.New(t)
	port := testkit.FreePort(t)
	path := filepath.Join(t.TempDir(), "mega.yaml")
	is.NoErr(os.WriteFile(path, []byte(fmt.Sprintf(`
server: { addr: "127.0.0.1:%d", shutdownTimeout: 5s, drainDelay: 1s, reconnectWindow: 3s }
logger: { level: error }
`, port)), 0o644))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- mega.Run(ctx, []string{"--config", path}, testApps) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	status := func(p string) int {
		resp, err := http.Get(base + p)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	natstest.WaitFor(t, 10*time.Second, "the process to be ready", func() bool { return status("/readyz") == http.StatusOK })

	srv := &megatest.Server{URL: base}
	ann, _ := dial(t, srv, "name=ann")
	bob, _ := dial(t, srv, "name=bob")
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, _, err := websocket.Dial(wctx, srv.WebSocketURL("/ws/chat?name=cid"), nil)
	is.NoErr(err)
	defer raw.CloseNow()

	stopped := time.Now()
	stop() // SIGTERM
	natstest.WaitFor(t, 2*time.Second, "/readyz to answer 503", func() bool { return status("/readyz") == http.StatusServiceUnavailable })
	is.Equal(status("/healthz"), http.StatusOK) // alive, just not taking new clients
	ann.Push(t, "send", map[string]string{"text": "still here"})
	bob.Expect(t, "said") // connections keep working while draining

	// Then the close, with the hint the browser client spreads its reconnect over.
	for {
		_, _, err = raw.Read(wctx)
		if err != nil {
			break
		}
	}
	var ce websocket.CloseError
	is.True(errors.As(err, &ce))
	is.Equal(ce.Code, websocket.StatusGoingAway)
	is.True(strings.Contains(ce.Reason, "retry=3000"))
	is.Equal(ann.ExpectClose(t), mega.CloseGoingAway)
	is.True(time.Since(stopped) >= time.Second) // the drain came first

	select {
	case err := <-errc:
		is.NoErr(err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within shutdownTimeout")
	}
}

// TestCtrlCStopsWithoutADrain: a Run cancelled with ErrInterrupted (what
// Main does on SIGINT) closes at once instead of draining for drainDelay.
func TestCtrlCStopsWithoutADrain(t *testing.T) {
	is := is.New(t)
	port := testkit.FreePort(t)
	path := filepath.Join(t.TempDir(), "mega.yaml")
	is.NoErr(os.WriteFile(path, []byte(fmt.Sprintf(`
server: { addr: "127.0.0.1:%d", shutdownTimeout: 20s, drainDelay: 10s }
logger: { level: error }
`, port)), 0o644))
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	errc := make(chan error, 1)
	go func() { errc <- mega.Run(ctx, []string{"--config", path}, testApps) }()
	srv := &megatest.Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	natstest.WaitFor(t, 10*time.Second, "the process to be ready", func() bool {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	ann, _ := dial(t, srv, "name=ann")
	cancel(mega.ErrInterrupted)
	is.Equal(ann.ExpectClose(t), mega.CloseGoingAway) // within megatest.Timeout (5s), well before the 10s drain
	select {
	case err := <-errc:
		is.NoErr(err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run drained after an interrupt")
	}
}
