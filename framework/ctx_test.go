package mega_test

import (
	"testing"

	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// reqCtx answers "alive?" with whether Request().Context() is still live.
type reqCtx struct{}

func (reqCtx) OnConnect(ctx *mega.Ctx) error { return ctx.Send("welcome", nil) }

func (reqCtx) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	return ctx.Reply(msg, "alive", ctx.Request().Context().Err() == nil)
}

// The upgrade's HTTP exchange ends when the connection starts, but a
// handler that passes Request().Context() on (to a database query, say)
// gets the connection's context, live until the connection ends.
func TestRequestContextIsTheConnections(t *testing.T) {
	is := is.New(t)
	app := mega.NewApp("test")
	app.Channel("/ws", reqCtx{})
	srv := megatest.Start(t, app)
	c := srv.Dial(t, "/ws")
	c.Expect(t, "welcome")
	c.PushRef(t, "alive?", nil, "a")
	is.Equal(string(c.Expect(t, "alive").Payload), "true")
}
