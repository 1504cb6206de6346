package mega_test

import (
	"fmt"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// A broadcast goes to every connection of the namespace, or only to those
// that joined its Channel, and never to the sessions in Except. Here ann
// and bob are in the kitchen (they joined its sub-channel), cid in the
// garden: what ann says reaches the kitchen, what she shouts reaches
// everyone but her.
func ExamplePresence_Broadcast() {
	t := newExampleT()
	defer t.Done()

	r := mega.NewRouter()
	mega.Handle(r, "say", func(ctx *mega.Ctx, text string) error {
		return ctx.Presence.Broadcast(mega.Broadcast{Channel: exampleRoom(ctx), Type: "said", Payload: text})
	})
	mega.Handle(r, "shout", func(ctx *mega.Ctx, text string) error {
		self, _ := ctx.Presence.Self()
		return ctx.Presence.Broadcast(mega.Broadcast{Type: "shouted", Payload: text, Except: []string{self.SessionID}})
	})
	app := mega.NewApp("main")
	app.Channel("/ws/chat", exampleChannel{r}, mega.WithAuth(exampleUser))
	srv := megatest.Start(t, app)

	ann := exampleDial(t, srv, "/ws/chat?name=ann&room=kitchen")
	bob := exampleDial(t, srv, "/ws/chat?name=bob&room=kitchen")
	cid := exampleDial(t, srv, "/ws/chat?name=cid&room=garden")

	ann.Push(t, "say", "soup's ready")
	ann.Push(t, "shout", "dinner!")
	exampleSync(t, ann)
	exampleFence(t, app, "/ws/chat", ann, bob, cid)
	for _, c := range []struct {
		name   string
		client *megatest.Client
	}{{"ann", ann}, {"bob", bob}, {"cid", cid}} {
		fmt.Println(c.name, "got", exampleReceived(t, c.client, "said", "shouted"))
	}
	// Output:
	// ann got said "soup's ready"
	// bob got said "soup's ready", shouted "dinner!"
	// cid got shouted "dinner!"
}

// DirectToUser reaches every session of a user, in every namespace of the
// app, on every instance: here ann has a tab on the chat and one on the
// alerts, and bob's whisper reaches both; bob gets nothing back.
func ExamplePresence_DirectToUser() {
	t := newExampleT()
	defer t.Done()

	r := mega.NewRouter()
	type whisper struct{ To, Text string }
	mega.Handle(r, "whisper", func(ctx *mega.Ctx, in whisper) error {
		return ctx.Presence.DirectToUser(in.To, mega.Push{Type: "whispered", Payload: ctx.User().ID + ": " + in.Text})
	})
	app := mega.NewApp("main")
	app.Channel("/ws/chat", exampleChannel{r}, mega.WithAuth(exampleUser))
	app.Channel("/ws/alerts", exampleChannel{}, mega.WithAuth(exampleUser))
	srv := megatest.Start(t, app)

	annChat := exampleDial(t, srv, "/ws/chat?name=ann")
	annAlerts := exampleDial(t, srv, "/ws/alerts?name=ann")
	bob := exampleDial(t, srv, "/ws/chat?name=bob")

	bob.Push(t, "whisper", whisper{To: "ann", Text: "psst"})
	exampleSync(t, bob)
	exampleFence(t, app, "/ws/chat", annChat, bob)
	exampleFence(t, app, "/ws/alerts", annAlerts)
	fmt.Println("ann on /ws/chat got", exampleReceived(t, annChat, "whispered"))
	fmt.Println("ann on /ws/alerts got", exampleReceived(t, annAlerts, "whispered"))
	fmt.Println("bob got", exampleReceived(t, bob, "whispered"))
	// Output:
	// ann on /ws/chat got whispered "bob: psst"
	// ann on /ws/alerts got whispered "bob: psst"
	// bob got nothing
}

// Update replaces a connection's presence metadata; with
// WithPresenceEvents every other connection of the namespace gets a
// presence.update frame carrying the member, and List shows the new
// metadata at once.
func ExamplePresence_Update() {
	t := newExampleT()
	defer t.Done()

	r := mega.NewRouter()
	mega.Handle(r, "status", func(ctx *mega.Ctx, status string) error {
		return ctx.Presence.Update(mega.Meta{"room": exampleRoom(ctx), "status": status})
	})
	app := mega.NewApp("main")
	app.Channel("/ws/chat", exampleChannel{r}, mega.WithAuth(exampleUser), mega.WithPresenceEvents())
	srv := megatest.Start(t, app)

	bob := exampleDial(t, srv, "/ws/chat?name=bob")
	ann := exampleDial(t, srv, "/ws/chat?name=ann")
	var m exampleMember
	bob.Expect(t, "presence.join").Decode(t, &m)
	fmt.Printf("bob sees %s join: %s\n", m.UserID, m.Metadata)

	ann.Push(t, "status", "away")
	bob.Expect(t, "presence.update").Decode(t, &m)
	fmt.Printf("bob sees %s update: %s\n", m.UserID, m.Metadata)
	for _, member := range app.List("/ws/chat") {
		if member.UserID == "ann" {
			fmt.Printf("the roster has %s: %s\n", member.UserID, member.Metadata)
		}
	}
	// Output:
	// bob sees ann join: {"room":"lobby"}
	// bob sees ann update: {"room":"lobby","status":"away"}
	// the roster has ann: {"room":"lobby","status":"away"}
}
