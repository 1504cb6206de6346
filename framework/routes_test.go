package mega_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
)

// routedChat is a channel that dispatches through an embedded Router.
type routedChat struct{ mega.Router }

func (*routedChat) OnConnect(*mega.Ctx) error { return nil }

// customEcho is a channel with an OnMessage of its own.
type customEcho struct{}

func (customEcho) OnConnect(*mega.Ctx) error               { return nil }
func (customEcho) OnMessage(*mega.Ctx, mega.Message) error { return nil }

// routesApp is an app with HTTP routes (a sub-router, a catch-all, several
// methods on one pattern) and two channels: one routed with history and
// token refresh, one with a custom OnMessage.
func routesApp(env *mega.Env) (*mega.App, error) {
	app := env.NewApp()
	r := app.Router()
	r.Get("/", func(http.ResponseWriter, *http.Request) {})
	r.Route("/api/rooms", func(r chi.Router) {
		r.Get("/", func(http.ResponseWriter, *http.Request) {})
		r.Post("/", func(http.ResponseWriter, *http.Request) {})
		r.Put("/{id}", func(http.ResponseWriter, *http.Request) {})
		r.Delete("/{id}", func(http.ResponseWriter, *http.Request) {})
		r.Get("/{id}", func(http.ResponseWriter, *http.Request) {})
	})
	r.Handle("/static/*", http.NotFoundHandler())

	chat := &routedChat{}
	mega.Handle(&chat.Router, "chat.send", func(*mega.Ctx, struct{ Text string }) error { return nil })
	mega.HandleMessage(&chat.Router, "roster.get", func(*mega.Ctx, mega.Message) error { return nil })
	mega.HandleMessage(&chat.Router, "history.get", func(*mega.Ctx, mega.Message) error { return nil })
	app.Channel("/ws/chat", chat, mega.WithHistory(mega.DefaultHistory),
		mega.WithTokenRefresh(func(context.Context, string) (mega.User, error) { return mega.User{}, nil }))
	app.Channel("/ws/echo", customEcho{})
	return app, nil
}

// plainApp is a second app, with one route and no channel.
func plainApp(env *mega.Env) (*mega.App, error) {
	app := env.NewApp()
	app.Router().Post("/hook", func(http.ResponseWriter, *http.Request) {})
	return app, nil
}

// routesConfig writes a mega.yaml for the apps with a wsCluster (for
// history) whose NATS does not exist: routes connects nothing.
func routesConfig(t *testing.T, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mega.yaml")
	yaml := "services: {buses: {main: {driver: nats, url: 'nats://127.0.0.1:1'}}}\nwsCluster: {bus: main}\n" + extra
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runRoutes runs the app binary's routes argument and returns what it
// printed.
func runRoutes(t *testing.T, apps mega.Apps, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	defer mega.SetRoutesOutput(&out)()
	err := mega.Run(context.Background(), args, apps)
	return out.String(), err
}

func TestRoutes(t *testing.T) {
	apps := mega.Apps{"main": routesApp, "hooks": plainApp}
	cases := []struct {
		name   string
		config string
		args   []string // after the config path
		want   string
	}{
		{"one app", "apps: [main]\n", []string{"routes"}, `
APP   PATTERN             METHODS
main  /                   GET
main  /_mega/client.d.ts  GET, HEAD
main  /_mega/client.js    GET, HEAD
main  /api/rooms/         GET, POST
main  /api/rooms/{id}     GET, PUT, DELETE
main  /healthz            GET
main  /readyz             GET
main  /static/*           *

APP   CHANNEL   TYPE             BY
main  /ws/chat  history.get      framework
main  /ws/chat  history.recover  framework
main  /ws/chat  token.refresh    framework
main  /ws/chat  chat.send        router
main  /ws/chat  history.get      router, shadowed by the framework
main  /ws/chat  roster.get       router
main  /ws/echo  *                custom OnMessage
`},
		{"history turned off in mega.yaml", "apps: [main]\nappConfig: {main: {channels: {/ws/chat: {history: {enabled: false}}}}}\n", []string{"routes"}, `
APP   PATTERN             METHODS
main  /                   GET
main  /_mega/client.d.ts  GET, HEAD
main  /_mega/client.js    GET, HEAD
main  /api/rooms/         GET, POST
main  /api/rooms/{id}     GET, PUT, DELETE
main  /healthz            GET
main  /readyz             GET
main  /static/*           *

APP   CHANNEL   TYPE           BY
main  /ws/chat  token.refresh  framework
main  /ws/chat  chat.send      router
main  /ws/chat  history.get    router
main  /ws/chat  roster.get     router
main  /ws/echo  *              custom OnMessage
`},
		{"two apps, mounted at their names", "apps: [hooks, main]\n", []string{"routes"}, `
APP    PATTERN                   METHODS
hooks  /hooks/_mega/client.d.ts  GET, HEAD
hooks  /hooks/_mega/client.js    GET, HEAD
hooks  /hooks/healthz            GET
hooks  /hooks/hook               POST
hooks  /hooks/readyz             GET
main   /main/                    GET
main   /main/_mega/client.d.ts   GET, HEAD
main   /main/_mega/client.js     GET, HEAD
main   /main/api/rooms/          GET, POST
main   /main/api/rooms/{id}      GET, PUT, DELETE
main   /main/healthz             GET
main   /main/readyz              GET
main   /main/static/*            *

APP    CHANNEL        TYPE             BY
hooks  (none)         -                -
main   /main/ws/chat  history.get      framework
main   /main/ws/chat  history.recover  framework
main   /main/ws/chat  token.refresh    framework
main   /main/ws/chat  chat.send        router
main   /main/ws/chat  history.get      router, shadowed by the framework
main   /main/ws/chat  roster.get       router
main   /main/ws/echo  *                custom OnMessage
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			out, err := runRoutes(t, apps, append([]string{"--config", routesConfig(t, tc.config)}, tc.args...)...)
			is.NoErr(err)
			is.Equal(out, strings.TrimPrefix(tc.want, "\n"))
		})
	}
}

func TestRoutesJSON(t *testing.T) {
	is := is.New(t)
	path := routesConfig(t, "apps: [main]\n")
	out, err := runRoutes(t, mega.Apps{"main": routesApp}, "routes", "--json", "--config", path)
	is.NoErr(err)
	type typ struct{ Type, By string }
	var got struct {
		Apps []struct {
			Name, Mount string
			HTTP        []struct {
				Pattern string
				Methods []string
			}
			Channels []struct {
				Namespace       string
				CustomOnMessage bool
				Types           []typ
			}
		}
	}
	is.NoErr(json.Unmarshal([]byte(out), &got))
	is.Equal(len(got.Apps), 1)
	a := got.Apps[0]
	is.Equal(a.Name, "main")
	is.Equal(a.Mount, "/")
	is.Equal(a.HTTP[0].Pattern, "/")
	is.Equal(a.HTTP[0].Methods, []string{"GET"})
	for _, r := range a.HTTP {
		if r.Pattern == "/api/rooms/{id}" {
			is.Equal(r.Methods, []string{"GET", "PUT", "DELETE"})
		}
		is.True(r.Pattern != "/ws/chat") // a channel's upgrade is listed with the channel
	}
	is.Equal(len(a.Channels), 2)
	is.Equal(a.Channels[0].Namespace, "/ws/chat")
	is.True(!a.Channels[0].CustomOnMessage)
	is.Equal(a.Channels[0].Types[3], typ{"chat.send", "router"})
	is.Equal(a.Channels[1].Namespace, "/ws/echo")
	is.True(a.Channels[1].CustomOnMessage)
	is.Equal(len(a.Channels[1].Types), 0)
	is.True(strings.Contains(out, `"customOnMessage": true`)) // the JSON keys tools read
}

// wrapped adds behaviour to a channel and says what it wraps.
type wrapped struct{ mega.Channel }

func (w wrapped) Unwrap() mega.Channel { return w.Channel }

// opaque wraps a channel without saying so.
type opaque struct{ mega.Channel }

func TestRoutesSeeThroughUnwrap(t *testing.T) {
	is := is.New(t)
	app := func(env *mega.Env) (*mega.App, error) {
		app := env.NewApp()
		chat := &routedChat{}
		mega.HandleMessage(&chat.Router, "chat.send", func(*mega.Ctx, mega.Message) error { return nil })
		app.Channel("/ws/a", wrapped{wrapped{chat}}) // a wrapper of a wrapper
		app.Channel("/ws/b", opaque{chat})
		return app, nil
	}
	out, err := runRoutes(t, mega.Apps{"main": app}, "routes", "--config", routesConfig(t, "apps: [main]\n"))
	is.NoErr(err)
	is.True(strings.Contains(out, "main  /ws/a    chat.send  router\n"))           // seen through Unwrap
	is.True(strings.Contains(out, "main  /ws/b    *          custom OnMessage\n")) // no Unwrap: opaque
}

func TestRoutesRefusesBadArguments(t *testing.T) {
	path := routesConfig(t, "apps: [main]\n")
	failing := func(*mega.Env) (*mega.App, error) { return nil, errors.New("no database") }
	cases := []struct {
		name string
		apps mega.Apps
		args []string
		want string
	}{
		{"an unknown flag", mega.Apps{"main": routesApp}, []string{"routes", "--nope"}, "mega: routes: flag provided but not defined: -nope (usage: routes [--config FILE] [--json])"},
		{"an argument", mega.Apps{"main": routesApp}, []string{"routes", "--config", path, "extra"}, `mega: routes: unexpected argument "extra" (usage: routes [--config FILE] [--json])`},
		{"a missing config file", mega.Apps{"main": routesApp}, []string{"routes", "--config", filepath.Join(t.TempDir(), "none.yaml")}, "none.yaml"},
		{"an app not compiled in", mega.Apps{"other": routesApp}, []string{"routes", "--config", path}, `app "main" is not registered (registered: other)`},
		{"a factory that fails", mega.Apps{"main": failing}, []string{"routes", "--config", path}, `mega: build app "main": no database`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			out, err := runRoutes(t, tc.apps, tc.args...)
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), tc.want)) // the error says what is wrong
			is.Equal(out, "")
		})
	}
}

func TestRoutesHelp(t *testing.T) {
	is := is.New(t)
	out, err := runRoutes(t, mega.Apps{"main": routesApp}, "routes", "-h")
	is.NoErr(err)
	is.True(strings.HasPrefix(out, "usage: routes [--config FILE] [--json]\n"))
}
