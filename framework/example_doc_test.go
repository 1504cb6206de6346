package mega_test

import (
	"fmt"
	"net/http"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// This file runs the code of the package documentation (doc.go), which
// appears here verbatim (internal/docsync checks that).

// Chat is the channel of the package documentation: every connection
// joins the "lobby" sub-channel, and chat messages go to it.
type Chat struct{}

// OnConnect joins presence in the "lobby" sub-channel and sends the roster.
func (Chat) OnConnect(ctx *mega.Ctx) error {
	err := ctx.Presence.Join(mega.Entry{
		UserID:   ctx.User().ID, // from the auth hook, never from the client
		Channels: []string{"lobby"},
		Metadata: mega.Meta{"room": "lobby"},
	})
	if err != nil {
		return err
	}
	return ctx.Send("welcome", ctx.Presence.List())
}

// OnMessage broadcasts chat.send to the "lobby" sub-channel.
func (Chat) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	switch msg.Type {
	case "chat.send":
		return ctx.Presence.Broadcast(mega.Broadcast{Channel: "lobby", Type: "chat.message", Payload: msg.Payload})
	}
	return mega.ErrUnknownType
}

// The package documentation's example, run: ann and bob connect as
// themselves, ann's message reaches both once (both joined "lobby"), ann
// sees bob join, and a connection without a name is refused before the
// upgrade.
func Example() {
	t := newExampleT()
	defer t.Done()

	app := mega.NewApp("main")
	app.Channel("/ws/chat", Chat{}, mega.WithAuth(func(r *http.Request) (mega.User, error) {
		name := r.URL.Query().Get("name")
		if name == "" {
			return mega.User{}, mega.ErrUnauthorized
		}
		return mega.User{ID: name}, nil
	}), mega.WithPresenceEvents())
	srv := megatest.Start(t, app)

	ann := srv.Dial(t, "/ws/chat?name=ann")
	ann.Expect(t, "welcome") // ann has joined
	bob := srv.Dial(t, "/ws/chat?name=bob")
	bob.Expect(t, "welcome")
	var joined exampleMember
	ann.Expect(t, "presence.join").Decode(t, &joined)
	fmt.Printf("ann sees %s join with %s\n", joined.UserID, joined.Metadata)

	ann.Push(t, "chat.send", map[string]string{"text": "hi"})
	fmt.Printf("ann got chat.message %s\n", ann.Expect(t, "chat.message").Payload)
	fmt.Printf("bob got chat.message %s\n", bob.Expect(t, "chat.message").Payload)

	ann.Push(t, "chat.edit", nil)
	var e mega.Error
	ann.Expect(t, "error").Decode(t, &e)
	fmt.Println("chat.edit:", e.Code)

	_, resp, err := srv.DialErr("/ws/chat", nil)
	if err == nil {
		t.Fatalf("a connection without a name was accepted")
	}
	resp.Body.Close()
	fmt.Println("without a name:", resp.Status)
	// Output:
	// ann sees bob join with {"room":"lobby"}
	// ann got chat.message {"text":"hi"}
	// bob got chat.message {"text":"hi"}
	// chat.edit: unknown_type
	// without a name: 401 Unauthorized
}
