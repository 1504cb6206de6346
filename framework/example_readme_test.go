package mega_test

import (
	"fmt"
	"net/http"
	"slices"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// This file runs the Go snippets of README.md, which appear here verbatim
// (internal/docsync checks that): the channel file a fresh app gets as
// apps/main/lobby.go, the line that mounts it, and a job that uses the
// app-level API.

// Lobby is a channel: whoever connects joins the roster, and what one
// sends, everyone receives.
type Lobby struct{}

// OnConnect joins presence as the user the auth hook found, then sends the
// newcomer who is here.
func (Lobby) OnConnect(ctx *mega.Ctx) error {
	if err := ctx.Presence.Join(mega.Entry{UserID: ctx.User().ID}); err != nil {
		return err
	}
	return ctx.Send("welcome", ctx.Presence.List())
}

// OnMessage sends chat.send to every connection of the namespace, on every
// instance, the sender included.
func (Lobby) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	if msg.Type == "chat.send" {
		return ctx.Presence.Broadcast(mega.Broadcast{Type: "chat.message", Payload: msg.Payload})
	}
	return mega.ErrUnknownType
}

// lobbyUser is the auth hook: it runs before the WebSocket upgrade and says
// who the user is. ?name= is an identity, not authentication: anyone can
// claim any name. Check a session cookie or a token here in production.
func lobbyUser(r *http.Request) (mega.User, error) {
	name := r.URL.Query().Get("name")
	if name == "" {
		return mega.User{}, mega.ErrUnauthorized
	}
	return mega.User{ID: name}, nil
}

// remind runs outside any connection (a background job, a REST handler):
// it has the app, and the app has the presence API.
func remind(app *mega.App) error {
	members := app.List("/ws/lobby") // cluster-wide; a copy the caller owns
	news := fmt.Sprintf("%d online", len(members))
	if err := app.Broadcast("/ws/lobby", mega.Broadcast{Type: "news", Payload: news}); err != nil {
		return err
	}
	return app.DirectToUser("ann", mega.Push{Type: "notice", Payload: "your export is ready"})
}

// The README's example, run: ann and bob connect to the Lobby as
// themselves, ann says hi and both get it once; then a job tells everyone
// how many are online and sends ann a notice. A connection without a name
// is refused by the auth hook before the upgrade.
func Example_readme() {
	t := newExampleT()
	defer t.Done()

	app := mega.NewApp("main")
	app.Channel("/ws/lobby", Lobby{}, mega.WithAuth(lobbyUser), mega.WithPresenceEvents())
	srv := megatest.Start(t, app)

	ann := srv.Dial(t, "/ws/lobby?name=ann")
	ann.Expect(t, "welcome") // ann has joined
	bob := srv.Dial(t, "/ws/lobby?name=bob")
	var here []mega.Member
	bob.Expect(t, "welcome").Decode(t, &here)
	var joined exampleMember
	ann.Expect(t, "presence.join").Decode(t, &joined)
	fmt.Println("bob's welcome lists:", userIDs(here))
	fmt.Println("ann sees", joined.UserID, "join")

	ann.Push(t, "chat.send", map[string]string{"text": "hi"})
	fmt.Printf("ann got chat.message %s\n", ann.Expect(t, "chat.message").Payload)
	fmt.Printf("bob got chat.message %s\n", bob.Expect(t, "chat.message").Payload)

	if err := remind(app); err != nil {
		t.Fatalf("remind: %v", err)
	}
	exampleFence(t, app, "/ws/lobby", ann, bob) // each got the hi once, and now all else
	fmt.Println("ann got", exampleReceived(t, ann, "chat.message", "news", "notice"))
	fmt.Println("bob got", exampleReceived(t, bob, "chat.message", "news", "notice"))

	_, resp, err := srv.DialErr("/ws/lobby", nil)
	if err == nil {
		t.Fatalf("a connection without a name was accepted")
	}
	resp.Body.Close()
	fmt.Println("without a name:", resp.Status)
	// Output:
	// bob's welcome lists: [ann bob]
	// ann sees bob join
	// ann got chat.message {"text":"hi"}
	// bob got chat.message {"text":"hi"}
	// ann got news "2 online", notice "your export is ready"
	// bob got news "2 online"
	// without a name: 401 Unauthorized
}

// userIDs returns the members' user ids, sorted.
func userIDs(members []mega.Member) []string {
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = m.UserID
	}
	slices.Sort(ids)
	return ids
}
