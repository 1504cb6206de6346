// Command prodapp is the app the production-topology test
// (e2e/prod) runs as real processes on a three-node NATS cluster. It has
// one channel, /ws/chat: every connection joins presence as ?name=, gets a
// welcome with its own session id and the roster, and can ask for the
// roster ("roster") or send a chat message to everyone ("send", broadcast
// as "said"). Everything else, the drain included, comes from mega.yaml.
package main

import (
	"net/http"

	mega "github.com/megaframework/mega/framework"
)

// chat is the channel.
type chat struct{}

// welcome is the first frame a connection gets.
type welcome struct {
	Self    string        `json:"self"`
	Members []mega.Member `json:"members"`
}

// OnConnect joins the connection to presence as the user the auth hook
// found and sends it the welcome.
func (chat) OnConnect(ctx *mega.Ctx) error {
	if err := ctx.Presence.Join(mega.Entry{}); err != nil {
		return err
	}
	self, _ := ctx.Presence.Self()
	return ctx.Send("welcome", welcome{Self: self.SessionID, Members: ctx.Presence.List()})
}

// OnMessage answers "roster" with the cluster-wide roster and broadcasts
// "send" as "said" to every connection on every instance.
func (chat) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	switch msg.Type {
	case "send":
		return ctx.Presence.Broadcast(mega.Broadcast{Type: "said", Payload: msg.Payload})
	case "roster":
		return ctx.Reply(msg, "roster", ctx.Presence.List())
	}
	return mega.ErrUnknownType
}

// nameAuth takes the user from ?name= (an identity for tests, not
// authentication).
func nameAuth(r *http.Request) (mega.User, error) {
	if name := r.URL.Query().Get("name"); name != "" {
		return mega.User{ID: name}, nil
	}
	return mega.User{}, mega.ErrUnauthorized
}

func main() {
	mega.Main(mega.Apps{"main": func(env *mega.Env) (*mega.App, error) {
		app := env.NewApp()
		app.Channel("/ws/chat", chat{}, mega.WithAuth(nameAuth), mega.WithPresenceEvents())
		return app, nil
	}})
}
