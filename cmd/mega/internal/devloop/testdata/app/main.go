// Command devfixture is the app the dev loop's integration tests run: a
// mega app with a version endpoint, an HTML page, static files served with
// mega.Static and a chat channel whose messages cross instances over NATS.
// The tests copy it to a temporary directory with a go.mod that points at
// this checkout, then edit it.
package main

import (
	"embed"
	"io"
	"net/http"

	mega "github.com/megaframework/mega/framework"
)

// version is what GET /version answers; the tests edit it.
const version = "v1"

//go:embed static
var static embed.FS

func main() {
	mega.Main(mega.Apps{"main": newApp})
}

func newApp(env *mega.Env) (*mega.App, error) {
	app := env.NewApp()
	r := app.Router()
	r.Get("/version", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, version)
	})
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><html><head><link rel="stylesheet" href="/static/style.css"></head><body><h1>`+version+`</h1></body></html>`)
	})
	r.Handle("/static/*", http.StripPrefix("/static/", mega.Static(static, "static")))
	app.Channel("/ws/chat", chat{}, mega.WithAuth(func(r *http.Request) (mega.User, error) {
		name := r.URL.Query().Get("name")
		if name == "" {
			return mega.User{}, mega.ErrUnauthorized
		}
		return mega.User{ID: name}, nil
	}))
	return app, nil
}

type chat struct{}

func (chat) OnConnect(ctx *mega.Ctx) error {
	if err := ctx.Presence.Join(mega.Entry{}); err != nil {
		return err
	}
	return ctx.Send("welcome", map[string]any{"instance": ctx.Request().Host})
}

func (chat) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	// The same protocol as the sample's chat (DESIGN §5), reduced.
	switch msg.Type {
	case "chat.send":
		var in struct {
			Text string `json:"text"`
		}
		if err := msg.Decode(&in); err != nil {
			return err
		}
		from := map[string]string{"userId": ctx.User().ID, "name": ctx.User().ID}
		return ctx.Presence.Broadcast(mega.Broadcast{Type: "chat.message", Payload: map[string]any{"from": from, "text": in.Text}})
	case "roster.get":
		type member struct {
			SessionID string `json:"sessionId"`
			UserID    string `json:"userId"`
		}
		members := []member{}
		for _, m := range ctx.Presence.List() {
			members = append(members, member{m.SessionID, m.UserID})
		}
		return ctx.Reply(msg, "roster", map[string]any{"members": members})
	}
	return mega.ErrUnknownType
}
