package mega_test

import (
	"encoding/json"
	"fmt"
	"time"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// A chat whose rooms keep their last 100 messages for 10 minutes: every
// message to a room carries its position, and a page opened later reads
// the room's recent messages with history.get. (docs/history.md)
func ExampleWithHistory() {
	t := newExampleT()
	defer t.Done()

	newChat := func() exampleChannel {
		r := mega.NewRouter()
		mega.Handle(r, "chat.send", func(ctx *mega.Ctx, in struct{ Text string }) error {
			return ctx.Presence.Broadcast(mega.Broadcast{Channel: exampleRoom(ctx), Type: "chat.message", Payload: in})
		})
		return exampleChannel{r: r}
	}
	chatAuth := exampleUser
	apps := mega.Apps{"main": func(env *mega.Env) (*mega.App, error) {
		app := env.NewApp()
		app.Channel("/ws/chat", newChat(), mega.WithAuth(chatAuth), mega.WithHistory(mega.History{
			Size: 100,              // messages kept per sub-channel
			TTL:  10 * time.Minute, // how long each is kept
		}))
		return app, nil
	}}
	// A booted instance: history lives in NATS JetStream (megatest's NATS
	// runs it, as the embedded one does).
	srv := megatest.BootCluster(t, 1, apps, "")[0]

	ann := exampleDial(t, srv, "/ws/chat?name=ann&room=kitchen")
	for _, text := range []string{"soup?", "soup!"} {
		ann.Push(t, "chat.send", map[string]string{"text": text})
		var f struct {
			Channel string
			Offset  uint64
		}
		_ = json.Unmarshal(ann.Expect(t, "chat.message").Raw, &f)
		fmt.Printf("ann got a chat.message in %s at offset %d\n", f.Channel, f.Offset)
	}

	bob := exampleDial(t, srv, "/ws/chat?name=bob&room=kitchen")
	bob.PushRef(t, "history.get", map[string]any{"channel": "kitchen", "limit": 10}, "h")
	var page struct {
		Offset   uint64
		Messages []struct{ Payload json.RawMessage }
	}
	bob.Expect(t, "history").Decode(t, &page)
	for _, m := range page.Messages {
		fmt.Printf("bob reads %s\n", m.Payload)
	}
	fmt.Println("bob's position:", page.Offset)
	// Output:
	// ann got a chat.message in kitchen at offset 1
	// ann got a chat.message in kitchen at offset 2
	// bob reads {"Text":"soup?"}
	// bob reads {"Text":"soup!"}
	// bob's position: 2
}
