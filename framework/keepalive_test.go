package mega_test

import (
	"testing"
	"time"

	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// slowWelcome takes longer in OnConnect than a ping and its pong timeout.
type slowWelcome struct{ d time.Duration }

func (s slowWelcome) OnConnect(ctx *mega.Ctx) error {
	select {
	case <-time.After(s.d): // the work under test: a long OnConnect
	case <-ctx.Context().Done():
		return ctx.Context().Err()
	}
	return ctx.Send("welcome", nil)
}

func (slowWelcome) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	return ctx.Reply(msg, "pong", nil)
}

// A slow OnConnect is not taken for a dead client: pings start once it has
// returned, when the read loop that reads their pongs runs.
func TestKeepaliveWaitsForOnConnect(t *testing.T) {
	is := is.New(t)
	app := mega.NewApp("test", mega.WithLimits(mega.Limits{PingInterval: 30 * time.Millisecond, PongTimeout: 30 * time.Millisecond}))
	app.Channel("/ws", slowWelcome{d: 300 * time.Millisecond})
	srv := megatest.Start(t, app)
	c := srv.Dial(t, "/ws")
	c.Expect(t, "welcome")
	// Pings now run and are answered: the connection stays up across many.
	for i := range 5 {
		c.PushRef(t, "ping", nil, string(rune('a'+i)))
		is.Equal(c.Expect(t, "pong").Ref, string(rune('a'+i)))
		time.Sleep(30 * time.Millisecond) // let pings go by between the requests
	}
}
