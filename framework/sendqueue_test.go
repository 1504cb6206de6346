package mega_test

import (
	"strings"
	"testing"

	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// bigWelcome sends one frame larger than the whole send queue, then small
// ones, the way a welcome with a roster of thousands is followed by
// presence frames.
type bigWelcome struct{ size int }

func (b bigWelcome) OnConnect(ctx *mega.Ctx) error {
	if err := ctx.Send("welcome", strings.Repeat("w", b.size)); err != nil {
		return err
	}
	for range 3 {
		if err := ctx.Send("small", "s"); err != nil {
			return err
		}
	}
	return nil
}

func (bigWelcome) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	return ctx.Reply(msg, "pong", nil)
}

// A frame bigger than the send queue, queued when the queue is empty, is
// not a sign of a slow client: it is sent, and the queue's limit applies on
// top of it.
func TestOneFrameBiggerThanTheSendQueueIsSent(t *testing.T) {
	is := is.New(t)
	app := mega.NewApp("test", mega.WithLimits(mega.Limits{SendQueue: 4 << 10}))
	app.Channel("/ws", bigWelcome{size: 64 << 10})
	srv := megatest.Start(t, app)
	c := srv.Dial(t, "/ws")
	is.Equal(len(c.Expect(t, "welcome").Payload), 64<<10+2) // the JSON string's quotes
	for range 3 {
		c.Expect(t, "small")
	}
	c.PushRef(t, "ping", nil, "p")
	is.Equal(c.Expect(t, "pong").Ref, "p") // still connected
}
