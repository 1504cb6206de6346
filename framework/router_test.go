package mega_test

import (
	"testing"

	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// echo embeds a zero Router: the Router is its OnMessage.
type echo struct{ mega.Router }

func newEcho() *echo {
	c := &echo{}
	mega.Handle(&c.Router, "say", func(ctx *mega.Ctx, in struct{ Text string }) error {
		return ctx.Send("said", in)
	})
	mega.HandleMessage(&c.Router, "ping", func(ctx *mega.Ctx, msg mega.Message) error {
		return ctx.Reply(msg, "pong", nil)
	})
	return c
}

func (*echo) OnConnect(ctx *mega.Ctx) error { return ctx.Send("welcome", nil) }

func TestZeroRouterEmbeddedIsTheChannelsOnMessage(t *testing.T) {
	is := is.New(t)
	app := mega.NewApp("test")
	app.Channel("/ws", newEcho())
	srv := megatest.Start(t, app)
	c := srv.Dial(t, "/ws")
	c.Expect(t, "welcome")

	c.Push(t, "say", map[string]string{"text": "hi"})
	is.Equal(string(c.Expect(t, "said").Payload), `{"Text":"hi"}`)
	c.PushRef(t, "ping", nil, "p1")
	is.Equal(c.Expect(t, "pong").Ref, "p1")
	c.PushRef(t, "nope", nil, "n1")
	var e struct{ Code string }
	c.Expect(t, "error").Decode(t, &e)
	is.Equal(e.Code, mega.CodeUnknownType)
	c.PushRef(t, "say", "not an object", "b1")
	c.Expect(t, "error").Decode(t, &e)
	is.Equal(e.Code, mega.CodeBadRequest)
}

func TestRouterRefusesATypeTwice(t *testing.T) {
	is := is.New(t)
	var r mega.Router
	mega.HandleMessage(&r, "a", func(*mega.Ctx, mega.Message) error { return nil })
	defer func() { is.True(recover() != nil) }()
	mega.HandleMessage(&r, "a", func(*mega.Ctx, mega.Message) error { return nil })
}
