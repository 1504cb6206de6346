package mega_test

import (
	"fmt"
	"net/http"

	mega "github.com/megaframework/mega/framework"
)

// Lobby is a channel: everyone who connects joins presence and what one
// sends, all receive.
type Lobby struct{}

func (Lobby) OnConnect(ctx *mega.Ctx) error {
	return ctx.Presence.Join(mega.Entry{Metadata: mega.Meta{"room": "lobby"}})
}

func (Lobby) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	switch msg.Type {
	case "chat.send":
		return ctx.Presence.Broadcast(mega.Broadcast{Type: "chat.message", Payload: msg.Payload})
	}
	return mega.ErrUnknownType
}

// An app mounts channels at namespaces; the auth hook decides who the user
// is before the upgrade, and presence events tell every client who comes
// and goes.
func ExampleApp_Channel() {
	app := mega.NewApp("main")
	app.Channel("/ws/lobby", Lobby{},
		mega.WithAuth(func(r *http.Request) (mega.User, error) {
			name := r.URL.Query().Get("name")
			if name == "" {
				return mega.User{}, mega.ErrUnauthorized
			}
			return mega.User{ID: name}, nil
		}),
		mega.WithPresenceEvents(),
	)
	app.Router().Get("/hello", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hi") })
	fmt.Println(app.Name())
	// Output: main
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
// an app's main function.
func ExampleMain() {
	newApp := func(env *mega.Env) (*mega.App, error) {
		app := env.NewApp()
		app.Channel("/ws/lobby", Lobby{})
		return app, nil
	}
	_ = mega.Apps{"main": newApp} // in main(): mega.Main(mega.Apps{"main": newApp})
}
