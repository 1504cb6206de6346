// Package mainapp is the app "main": the chat page at /, the chat
// channel at /ws/chat and the REST resources under /api.
package mainapp

import (
	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/rest"
	_ "modernc.org/sqlite" // the "sqlite" driver of services.databases
)

// New builds the app from what mega.yaml gives it: its settings, a logger
// and the database services.databases.main. mega.Main calls it at boot.
func New(env *mega.Env) (*mega.App, error) {
	db, err := env.Database("main")
	if err != nil {
		return nil, err
	}
	app := env.NewApp()
	r := app.Router()
	mountPage(r)
	// The REST resources' router: every answer under /api is JSON in one
	// shape, an unknown path (404) or method (405, with Allow) included.
	api := rest.Router()
	r.Mount("/api", api)
	// The chat keeps each room's recent messages (mega.DefaultHistory: the
	// last 100 for 10 minutes) in NATS JetStream, so a page shows them on
	// load and a client that reconnects gets what it missed; mega.yaml's
	// appConfig tunes it.
	app.Channel("/ws/chat", newChat(), mega.WithAuth(chatAuth), mega.WithPresenceEvents(), mega.WithHistory(mega.DefaultHistory))
	if err := mountRooms(api, app, db); err != nil {
		return nil, err
	}
	// mega:routes (mega generate adds resources and channels above this
	// line, where app, r, api and db are in scope; keep it)
	return app, nil
}
