package mega

// `routes`: what an app binary prints when run as `go run . routes` (which
// `mega routes` does): every app's HTTP routes and its channels with the
// message types they answer, built as the boot builds them, without
// listening or connecting a bus.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/go-chi/chi/v5"

	"github.com/megaframework/mega/framework/config"
)

// routesArg is the argument of Run that prints the routes.
const routesArg = "routes"

// routesUsage is the synopsis of the routes argument.
const routesUsage = "routes [--config FILE] [--json]"

// routesOutput is where the routes are printed; tests redirect it.
var routesOutput io.Writer = os.Stdout

// Who serves a channel's message type, in routesType.By.
const (
	byRouter    = "router"    // registered on the channel's Router
	byFramework = "framework" // a system type (system.go, history.go)
	byShadowed  = "router, shadowed by the framework"
)

// routesApp is one app in the output of routes.
type routesApp struct {
	Name     string          `json:"name"`
	Mount    string          `json:"mount"` // "/" or "/<name>" when the process serves several apps
	HTTP     []routesHTTP    `json:"http"`
	Channels []routesChannel `json:"channels"`
}

// routesHTTP is one HTTP route pattern and its methods; Methods is ["*"]
// for a route that takes every method (chi's Handle and Mount).
type routesHTTP struct {
	Pattern string   `json:"pattern"`
	Methods []string `json:"methods"`
}

// routesChannel is one mounted channel. CustomOnMessage is true when
// OnMessage does not dispatch through an embedded Router: the types it
// answers are then its own business and only the framework's are listed.
type routesChannel struct {
	Namespace       string       `json:"namespace"`
	CustomOnMessage bool         `json:"customOnMessage"`
	Types           []routesType `json:"types"`
}

// routesType is one message type a channel answers, and who answers it.
type routesType struct {
	Type string `json:"type"`
	By   string `json:"by"`
}

// runRoutes implements the routes argument of Run: args are its flags,
// configPath the --config given before it.
func runRoutes(ctx context.Context, args []string, configPath string, apps Apps, w io.Writer) (err error) {
	fs := flag.NewFlagSet(routesArg, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", configPath, "the config file to use")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, err = fmt.Fprintf(w, "usage: %s\n\nPrints the apps' HTTP routes and channels without starting them.\n", routesUsage)
			return err
		}
		return fmt.Errorf("mega: routes: %w (usage: %s)", err, routesUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("mega: routes: unexpected argument %q (usage: %s)", fs.Arg(0), routesUsage)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if err := checkApps(cfg, apps); err != nil {
		return err
	}
	// The factories run as in the boot (databases included); their logs
	// are not what was asked for.
	dbs := &databases{cfg: cfg}
	built, err := buildApps(cfg, apps, dbs, io.Discard)
	defer func() {
		for _, a := range built {
			// Nothing is connected: Shutdown returns at once, even
			// after a Ctrl-C.
			err = errors.Join(err, a.Shutdown(context.WithoutCancel(ctx)))
		}
		err = errors.Join(err, dbs.close())
	}()
	if err != nil {
		return err
	}
	report := make([]routesApp, len(built))
	for k, a := range built {
		mount := "/"
		if len(built) > 1 {
			mount = "/" + a.Name() // see Instance.handler
		}
		report[k], err = a.routes(mount)
		if err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Apps []routesApp `json:"apps"`
		}{report})
	}
	return printRoutes(w, report)
}

// routes lists the app's HTTP routes, its channels' namespaces excepted,
// and its channels, with every path under mount.
func (a *App) routes(mount string) (routesApp, error) {
	a.mountMu.RLock()
	defer a.mountMu.RUnlock()
	out := routesApp{Name: a.name, Mount: mount, HTTP: []routesHTTP{}, Channels: []routesChannel{}}
	methods := map[string][]string{} // pattern → methods
	err := chi.Walk(a.router, func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if _, channel := a.mounts[pattern]; channel && method == http.MethodGet {
			return nil // the WebSocket upgrade: listed with the channel
		}
		methods[pattern] = append(methods[pattern], method)
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("mega: routes of app %q: %w", a.name, err)
	}
	prefix := strings.TrimSuffix(mount, "/")
	for _, pattern := range slices.Sorted(maps.Keys(methods)) {
		out.HTTP = append(out.HTTP, routesHTTP{Pattern: prefix + pattern, Methods: routeMethods(methods[pattern])})
	}
	for _, ns := range slices.Sorted(maps.Keys(a.mounts)) {
		out.Channels = append(out.Channels, a.mounts[ns].routes(prefix))
	}
	return out, nil
}

// routes describes the mounted channel: the framework's types first, then
// its Router's, each sorted.
func (m *mount) routes(prefix string) routesChannel {
	out := routesChannel{Namespace: prefix + m.ns, Types: []routesType{}}
	for _, typ := range slices.Sorted(maps.Keys(m.system)) {
		out.Types = append(out.Types, routesType{Type: typ, By: byFramework})
	}
	r, ok := routerOf(m.channel)
	if !ok {
		out.CustomOnMessage = true
		return out
	}
	for _, typ := range r.messageTypes() {
		by := byRouter
		if _, system := m.system[typ]; system {
			by = byShadowed // conn.handle asks the framework first
		}
		out.Types = append(out.Types, routesType{Type: typ, By: by})
	}
	return out
}

// routed is a channel whose OnMessage is a Router's: one that embeds
// Router or *Router.
type routed interface{ messageTypes() []string }

var _ routed = (*Router)(nil)

// routerOf finds the Router behind ch, looking through wrappers that
// define Unwrap() Channel (a channel wrapped to add behaviour, as the
// sessions of `mega generate auth` wrap the chat).
func routerOf(ch Channel) (routed, bool) {
	for range 16 { // wrappers of wrappers, but never a cycle forever
		if r, ok := ch.(routed); ok {
			return r, true
		}
		u, ok := ch.(interface{ Unwrap() Channel })
		if !ok {
			return nil, false
		}
		if ch = u.Unwrap(); ch == nil {
			return nil, false
		}
	}
	return nil, false
}

// allMethods are the methods chi registers for a route that takes any
// method, in the order routes prints methods.
var allMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace,
}

// routeMethods orders the methods of one pattern, or returns "*" alone when
// it takes every method.
func routeMethods(ms []string) []string {
	every := true
	for _, m := range allMethods {
		if !slices.Contains(ms, m) {
			every = false
			break
		}
	}
	if every {
		return []string{"*"}
	}
	rank := func(m string) int {
		if i := slices.Index(allMethods, m); i >= 0 {
			return i
		}
		return len(allMethods) // a custom method, after the standard ones
	}
	slices.SortFunc(ms, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return ms
}

// printRoutes writes the report as two aligned tables: the HTTP routes,
// one line per pattern, then the channels' message types.
func printRoutes(w io.Writer, report []routesApp) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tPATTERN\tMETHODS")
	for _, a := range report {
		for _, r := range a.HTTP {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name, r.Pattern, strings.Join(r.Methods, ", "))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "APP\tCHANNEL\tTYPE\tBY")
	for _, a := range report {
		if len(a.Channels) == 0 {
			fmt.Fprintf(tw, "%s\t(none)\t-\t-\n", a.Name)
		}
		for _, c := range a.Channels {
			for _, t := range c.Types {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Name, c.Namespace, t.Type, t.By)
			}
			if c.CustomOnMessage {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Name, c.Namespace, "*", "custom OnMessage")
			}
		}
	}
	return tw.Flush()
}
