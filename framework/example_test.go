package mega_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/internal/exampletest"
	"github.com/megaframework/mega/framework/megatest"
)

// This file holds what the examples share: newExampleT, a stand-in for the
// *testing.T an Example does not get, and exampleChannel, the channel of
// the Presence and App examples. The examples themselves start a real app
// on loopback with megatest, dial real WebSocket clients and print what
// those clients received, so `go test` checks every word of their output.

// newExampleT stands in for the *testing.T an Example does not get (see
// package exampletest); every example defers its Done.
func newExampleT() *exampletest.T { return exampletest.New() }

// exampleChannel is the channel of the Presence and App examples. OnConnect
// joins presence as the user the auth hook found, in the sub-channel named
// by ?room= (default "lobby") with metadata {"room": room}, and sends the
// connection a "welcome" frame: a client that has it knows it has joined.
// It answers "ping" with "pong" (see exampleSync); other messages go to
// the example's router.
type exampleChannel struct{ r *mega.Router }

// OnConnect joins presence in the room's sub-channel and sends "welcome".
func (c exampleChannel) OnConnect(ctx *mega.Ctx) error {
	room := exampleRoom(ctx)
	err := ctx.Presence.Join(mega.Entry{
		UserID:   ctx.User().ID,
		Channels: []string{room},
		Metadata: mega.Meta{"room": room},
	})
	if err != nil {
		return err
	}
	return ctx.Send("welcome", nil)
}

// OnMessage answers "ping" and hands other messages to the router.
func (c exampleChannel) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	switch {
	case msg.Type == "ping":
		return ctx.Reply(msg, "pong", nil)
	case c.r == nil:
		return mega.ErrUnknownType
	}
	return c.r.Dispatch(ctx, msg)
}

// exampleRoom is the room a connection asked for with ?room=.
func exampleRoom(ctx *mega.Ctx) string {
	if room := ctx.Request().URL.Query().Get("room"); room != "" {
		return room
	}
	return "lobby"
}

// exampleUser is the examples' auth hook: the user is ?name=. That is an
// identity, not authentication: a real app checks a cookie or a token.
func exampleUser(r *http.Request) (mega.User, error) {
	name := r.URL.Query().Get("name")
	if name == "" {
		return mega.User{}, mega.ErrUnauthorized
	}
	return mega.User{ID: name}, nil
}

// exampleDial connects to path and waits for the welcome: the connection
// has joined presence when it returns.
func exampleDial(t *exampletest.T, srv *megatest.Server, path string) *megatest.Client {
	c := srv.Dial(t, path)
	c.Expect(t, "welcome")
	return c
}

// exampleSync pushes a ping and waits for the pong. A connection's
// messages are handled in order, so the server has handled everything c
// sent before, and the local deliveries those handlers made are queued.
func exampleSync(t *exampletest.T, c *megatest.Client) {
	c.Push(t, "ping", nil)
	c.Expect(t, "pong")
}

// exampleFence broadcasts a "fence" frame to namespace ns and waits until
// each client has it. Frames to one connection keep their order, so a
// client has by then everything sent to it before the fence: what it has
// not got, it will not get.
func exampleFence(t *exampletest.T, app *mega.App, ns string, clients ...*megatest.Client) {
	if err := app.Broadcast(ns, mega.Broadcast{Type: "fence"}); err != nil {
		t.Fatalf("fence: %v", err)
	}
	for _, c := range clients {
		c.Expect(t, "fence")
	}
}

// exampleReceived takes every buffered frame of the given types from c and
// describes them, type by type, e.g. `said "hi", shouted "dinner"`, or
// "nothing".
func exampleReceived(t *exampletest.T, c *megatest.Client, types ...string) string {
	var out []string
	for _, typ := range types {
		for range c.Count(typ) {
			f := c.Expect(t, typ)
			out = append(out, typ+" "+string(f.Payload))
		}
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}

// exampleMember is a member as presence frames encode it.
type exampleMember struct {
	UserID   string          `json:"userId"`
	Metadata json.RawMessage `json:"metadata"`
}

// An app mounts channels at namespaces; the auth hook decides who the user
// is before the upgrade. A request it refuses never becomes a WebSocket.
func ExampleApp_Channel() {
	t := newExampleT()
	defer t.Done()

	app := mega.NewApp("main")
	app.Channel("/ws/lobby", exampleChannel{},
		mega.WithAuth(func(r *http.Request) (mega.User, error) {
			name := r.URL.Query().Get("name")
			if name == "" {
				return mega.User{}, mega.ErrUnauthorized
			}
			return mega.User{ID: name}, nil
		}),
		mega.WithPresenceEvents(),
	)
	srv := megatest.Start(t, app)

	exampleDial(t, srv, "/ws/lobby?name=ann")
	fmt.Println("ann joined")

	_, resp, err := srv.DialErr("/ws/lobby", nil)
	if err == nil {
		t.Fatalf("a connection without a name was accepted")
	}
	resp.Body.Close()
	fmt.Println("without a name:", resp.Status)
	// Output:
	// ann joined
	// without a name: 401 Unauthorized
}

type chatSend struct {
	Text string `json:"text"`
}

// A Router dispatches messages by type to handlers with typed payloads;
// unknown types and payloads that do not decode become error frames.
func ExampleHandle() {
	r := mega.NewRouter()
	mega.Handle(r, "chat.send", func(ctx *mega.Ctx, in chatSend) error {
		if in.Text == "" {
			return mega.BadRequest("text is required")
		}
		return ctx.Presence.Broadcast(mega.Broadcast{Type: "chat.message", Payload: in})
	})
	fmt.Println(r.Dispatch(nil, mega.Message{Type: "chat.leave"}))
	// Output: unknown_type: unknown message type
}

// A process serves the apps listed in mega.yaml; Main is the whole body of
// an app's main function. (Not run: Main serves until it is stopped.)
func ExampleMain() {
	newApp := func(env *mega.Env) (*mega.App, error) {
		app := env.NewApp()
		app.Channel("/ws/lobby", exampleChannel{}, mega.WithAuth(exampleUser))
		return app, nil
	}
	_ = mega.Apps{"main": newApp} // in main(): mega.Main(mega.Apps{"main": newApp})
}
