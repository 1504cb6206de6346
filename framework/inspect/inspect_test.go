package inspect_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/nats-io/nats.go"

	"github.com/megaframework/mega/framework/inspect"
	"github.com/megaframework/mega/framework/natstest"
)

// respond answers inspect requests on prefix with body until the test ends.
func respond(t *testing.T, nc *nats.Conn, prefix string, body []byte) {
	t.Helper()
	sub, err := nc.Subscribe(inspect.Subject(prefix), func(m *nats.Msg) { _ = m.Respond(body) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
}

func TestInspectWithoutInstances(t *testing.T) {
	is := is.New(t)
	nc, err := nats.Connect(natstest.URL(natstest.StartServer(t)))
	is.NoErr(err)
	t.Cleanup(nc.Close)
	ctx := context.Background()

	// Nobody subscribes: NATS says so at once, no waiting for the timeout.
	t0 := time.Now()
	res, err := inspect.Query(ctx, nc, inspect.Options{Timeout: 10 * time.Second})
	is.True(errors.Is(err, inspect.ErrNoInstances))
	is.True(res == nil)
	is.True(time.Since(t0) < 5*time.Second)
	is.Equal(err.Error(), `inspect: no instance answered on mega.ws.inspect (NATS reports no subscriber): no instance uses the subject prefix "mega.ws" on this NATS`)

	// Something subscribes but sends nothing readable: the timeout ends it.
	respond(t, nc, "mega.ws", []byte("not json"))
	respond(t, nc, "mega.ws", []byte(`{"version":1}`))
	_, err = inspect.Query(ctx, nc, inspect.Options{Timeout: 200 * time.Millisecond})
	is.True(errors.Is(err, inspect.ErrNoInstances))
	is.Equal(err.Error(), `inspect: no instance answered on mega.ws.inspect within 200ms: no instance uses the subject prefix "mega.ws" on this NATS`)

	// Unreadable replies are reported next to the readable ones.
	b, err := json.Marshal(inspect.Reply{Version: inspect.Version, ID: "solo"})
	is.NoErr(err)
	respond(t, nc, "mega.ws", b)
	// (A long quiet period, so the three replies surely arrive.)
	res, err = inspect.Query(ctx, nc, inspect.Options{Timeout: 5 * time.Second, Quiet: 2 * time.Second})
	is.NoErr(err)
	is.Equal(len(res.Instances), 1)
	is.Equal(len(res.Invalid), 2)

	_, err = inspect.Query(ctx, nc, inspect.Options{Prefix: "a.>"})
	is.True(err != nil) // an invalid prefix

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = inspect.Query(cctx, nc, inspect.Options{})
	is.True(errors.Is(err, context.Canceled))
}
