package generator

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// DefaultLive is the namespace a resource's changes are broadcast to unless
// told otherwise: the chat channel every app made by mega new mounts.
const DefaultLive = "/ws/chat"

// ResourceOptions says what Resource adds.
type ResourceOptions struct {
	// Dir is the app's root (the directory of its go.mod); when empty, the
	// nearest one at or above the working directory.
	Dir string
	// App is the directory under apps/ to add to; "main" when empty.
	App string
	// Name is the resource's plural, snake-case name: its table, URL path
	// (/api/<name>) and file (apps/<app>/<name>.go).
	Name string
	// Singular overrides the singular form guessed from Name, which names
	// the Go type (rooms → Room).
	Singular string
	// Fields are the resource's fields, besides id, createdAt and updatedAt.
	Fields []Field
	// Live is the namespace (e.g. DefaultLive) whose connections get
	// <name>.created, <name>.updated and <name>.deleted after every change
	// that succeeded; the app must mount a channel there. Empty means no
	// live events.
	Live string
	// Force overwrites the resource's files when they exist.
	Force bool
}

// resourceData is what the resource templates use.
type resourceData struct {
	// Package, Import and App locate the app (see appData).
	Package, Import, App string
	// Name is the plural snake-case name; Table, URL (/api/rooms) and
	// Route (/rooms, on the app's /api router) follow from it.
	Name, Table, URL, Route string
	// Type is the Go type of one record (Room), Plural the exported plural
	// (Rooms), Var the unexported prefix (rooms), Label the singular for
	// people ("room").
	Type, Plural, Var, Label string
	Fields                   []fieldData
	// Unknown is a field name the resource does not have, for tests.
	Unknown string
	// Live is the namespace told of every change ("" for none); Key is the
	// JSON key of the record in the events' payload ("room").
	Live, Key string
	// Auth is true in an app that mega generate auth wired: its tests send
	// their direct requests with a test session (legacy_login_test.go).
	Auth bool
}

// First is the first field, which tests send with the wrong type.
func (d resourceData) First() fieldData { return d.Fields[0] }

// Required returns the first field a request must give, or nil.
func (d resourceData) Required() *fieldData {
	for i := range d.Fields {
		if d.Fields[i].Required() {
			return &d.Fields[i]
		}
	}
	return nil
}

// CreateJSON is a valid create request body, UpdateJSON a valid update.
func (d resourceData) CreateJSON() string { return d.body(1, "", "") }

// UpdateJSON is a valid replace request body.
func (d resourceData) UpdateJSON() string { return d.body(2, "", "") }

// WrongJSON is CreateJSON with the first field of the wrong type.
func (d resourceData) WrongJSON() string { return d.body(1, d.Fields[0].JSON, d.Fields[0].wrong()) }

// UnknownJSON is CreateJSON plus a field the resource does not have.
func (d resourceData) UnknownJSON() string {
	return strings.TrimSuffix(d.body(1, "", ""), "}") + fmt.Sprintf(`, "%s": 1}`, d.Unknown)
}

// body returns a JSON object with sample n of every field, except that
// field key (when not empty) gets value.
func (d resourceData) body(n int, key, value string) string {
	parts := make([]string, len(d.Fields))
	for i, f := range d.Fields {
		v := f.sample(n)
		if f.JSON == key {
			v = value
		}
		parts[i] = fmt.Sprintf(`"%s": %s`, f.JSON, v)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Resource plans a REST resource in an existing app: apps/<app>/<name>.go
// (the type, the table, the handlers), apps/<app>/<name>_test.go, the
// support files they need when missing, and one registration in app.go.
func Resource(opts ResourceOptions) (*Plan, error) {
	if err := CheckName("resource", opts.Name); err != nil {
		return nil, err
	}
	if len(opts.Fields) == 0 {
		return nil, invalid("a resource needs at least one field, e.g. title:string body:text (types: %s)", strings.Join(FieldTypes, ", "))
	}
	if opts.Live != "" && !namespacePattern.MatchString(opts.Live) {
		return nil, invalid("--live %q: a namespace is a path like %s", opts.Live, DefaultLive)
	}
	a, err := findApp(opts.Dir, opts.App)
	if err != nil {
		return nil, err
	}
	if err := a.checkAPIRouter(); err != nil {
		return nil, err
	}
	if opts.Live != "" {
		if err := a.checkMounted(opts.Live); err != nil {
			return nil, err
		}
	}
	g, err := resourceFiles(a.data, opts, a.hasAuth())
	if err != nil {
		return nil, err
	}
	return a.addPlan(g.files, g.reg, opts.Force)
}

// resourceFiles renders one resource for the app described by app.
func resourceFiles(app appData, opts ResourceOptions, auth bool) (*generated, error) {
	one := opts.Singular
	if one == "" {
		one = singular(opts.Name)
	} else if !identPattern.MatchString(one) {
		return nil, invalid("--singular %q: use snake case like the name, e.g. %q", one, suggestIdent(one))
	}
	d := resourceData{
		Package: app.Package, Import: app.Import, App: app.App,
		Name: opts.Name, Table: opts.Name, URL: "/api/" + opts.Name, Route: "/" + opts.Name,
		Type: goName(one), Plural: goName(opts.Name), Var: lowerCamel(opts.Name),
		Label: strings.ReplaceAll(one, "_", " "),
		Live:  opts.Live, Key: lowerCamel(one), Auth: auth,
	}
	if d.Type == d.Plural {
		d.Plural += "List" // sheep: type Sheep, mountSheepList
	}
	for _, f := range opts.Fields {
		d.Fields = append(d.Fields, newFieldData(f))
	}
	d.Unknown = "nope"
	for slices.ContainsFunc(d.Fields, func(f fieldData) bool { return f.JSON == d.Unknown }) {
		d.Unknown += "_x"
	}
	files, err := render("resource", d, names{app: app.App, name: opts.Name}, mustCreate)
	if err != nil {
		return nil, err
	}
	return &generated{files: files, reg: registration{
		stmt: fmt.Sprintf("if err := mount%s(api, app, db); err != nil {\n\treturn nil, err\n}", d.Plural),
		key:  fmt.Sprintf("mount%s(api, app, db)", d.Plural),
	}}, nil
}

// hasAuth reports whether mega generate auth wired the app: its test
// helpers then hold withTestSession.
func (a *app) hasAuth() bool {
	_, err := os.Stat(filepath.Join(a.root, "apps", a.data.App, "legacy_login_test.go"))
	return err == nil
}

// apiRouter finds the declaration of New's api router in app.go.
var apiRouter = regexp.MustCompile(`(?m)^\s*api\s*:?=`)

// checkAPIRouter fails unless app.go declares the api router resources
// mount on, as mega new writes it; an app made before package rest has
// none, and the error gives the lines to add.
func (a *app) checkAPIRouter() error {
	appGo := "apps/" + a.data.App + "/app.go"
	src, err := os.ReadFile(filepath.Join(a.root, filepath.FromSlash(appGo)))
	if err != nil {
		return err
	}
	if apiRouter.Match(src) {
		return nil
	}
	return fmt.Errorf("%s has no api router for resources to mount on (the app was made before package rest); "+
		"add these lines to New, above the %q line, importing github.com/megaframework/mega/framework/rest:\n"+
		"\tapi := rest.Router()\n\tr.Mount(\"/api\", api)", appGo, Marker)
}

// namespacePattern is what --live accepts: a path like /ws/chat.
var namespacePattern = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

// checkMounted fails unless a Go file of the app calls Channel(ns, ...)
// with ns as a string literal, as app.go does for every channel mega
// writes. The error says which namespaces the app mounts and what to pass.
func (a *app) checkMounted(ns string) error {
	mounted, err := a.namespaces()
	if err != nil {
		return err
	}
	if slices.Contains(mounted, ns) {
		return nil
	}
	dir := "apps/" + a.data.App
	if len(mounted) == 0 {
		return fmt.Errorf("--live %s: %s mounts no channel, so no connection could hear of changes; add one (mega generate channel NAME, then --live /ws/NAME), or pass --no-live", ns, dir)
	}
	quoted := make([]string, len(mounted))
	for i, m := range mounted {
		quoted[i] = "--live " + m
	}
	return fmt.Errorf("--live %s: %s mounts no channel at %q (no app.Channel(%q, ...)); pass %s, or --no-live for a resource without live events",
		ns, dir, ns, ns, strings.Join(quoted, " or "))
}

// namespaces returns the namespaces the app's Go files (tests aside) mount
// with app.Channel("/ws/...", ...), sorted.
func (a *app) namespaces() ([]string, error) {
	dir := filepath.Join(a.root, "apps", a.data.App)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			continue // the compiler will say what is wrong with it
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			lit, isLit := call.Args[0].(*ast.BasicLit)
			if !ok || sel.Sel.Name != "Channel" || !isLit || lit.Kind != token.STRING {
				return true
			}
			if ns, err := strconv.Unquote(lit.Value); err == nil && !slices.Contains(out, ns) {
				out = append(out, ns)
			}
			return true
		})
	}
	slices.Sort(out)
	return out, nil
}
