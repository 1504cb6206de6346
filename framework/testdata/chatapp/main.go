// Command chatapp is a minimal mega app the fault tests run as a real
// process (to kill it with SIGKILL). It joins every connection to presence
// as ?name= and broadcasts "send" messages.
package main

import (
	"net/http"

	mega "github.com/megaframework/mega/framework"
)

type chat struct{}

func (chat) OnConnect(ctx *mega.Ctx) error { return ctx.Presence.Join(mega.Entry{}) }

func (chat) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	if msg.Type == "send" {
		return ctx.Presence.Broadcast(mega.Broadcast{Type: "said", Payload: msg.Payload})
	}
	return mega.ErrUnknownType
}

func main() {
	mega.Main(mega.Apps{"main": func(env *mega.Env) (*mega.App, error) {
		app := env.NewApp()
		app.Channel("/ws/chat", chat{}, mega.WithPresenceEvents(), mega.WithAuth(func(r *http.Request) (mega.User, error) {
			if name := r.URL.Query().Get("name"); name != "" {
				return mega.User{ID: name}, nil
			}
			return mega.User{}, mega.ErrUnauthorized
		}))
		return app, nil
	}})
}
