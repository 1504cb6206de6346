package generator

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// AuthOptions says what Auth adds.
type AuthOptions struct {
	// Dir is the app's root; see ResourceOptions.Dir.
	Dir string
	// App is the directory under apps/ to add to; "main" when empty.
	App string
	// Force overwrites the files Auth writes when they exist with other
	// content.
	Force bool
}

// JWTModule is the JWT library generated apps sign their tokens with, at
// the version mega generate auth requires in the app's go.mod (see
// docs/adr/0009-auth-tokens-and-sessions.md). Run Tidy after writing.
const JWTModule = "github.com/golang-jwt/jwt/v5 v5.3.1"

// Auth plans accounts, sessions, tokens and private rooms in an existing
// app made by mega new: the files of templates/auth (with their tests and
// static/auth.js), and these edits of the app's own files:
//
//   - app.go: mountAuth right after the api router is mounted, and one app.Use line
//     that installs auth's middlewares on the whole app (security headers,
//     CSRF, the session or token loaded into the request's context, and
//     401 for a change under /api/ or a WebSocket upgrade without a user),
//     so that every route and resource, those generated later too, is
//     covered; every channel's mega.WithAuth(hook) becomes
//     mega.WithAuth(auth.channel(hook)) with mega.WithTokenRefresh, its
//     channel is wrapped in auth.track (logout closes the session's
//     sockets), and the chat channel gets the room authorization
//     (mega.WithAuthorize);
//   - the app's tests that call app.ServeHTTP directly send their
//     requests with a test session (see legacy_login_test.go);
//   - static/index.html loads auth.js (the login form) instead of app.js;
//     auth.js loads app.js once the user is logged in;
//   - go.mod requires the JWT library (JWTModule).
//
// Each edit is made once: a second run changes nothing, except that it
// wires the channels and adapts the tests added since the first. An app
// whose files no longer have what an edit looks for gets an error that
// says what to change by hand, and nothing is written.
func Auth(opts AuthOptions) (*Plan, error) {
	a, err := findApp(opts.Dir, opts.App)
	if err != nil {
		return nil, err
	}
	files, err := render("auth", a.data, names{app: a.data.App}, mustCreate)
	if err != nil {
		return nil, err
	}
	shared, err := render("shared", a.data, names{app: a.data.App}, ifMissing)
	if err != nil {
		return nil, err
	}
	files = append(files, shared...)

	dir := "apps/" + a.data.App
	appGo, err := a.read(dir + "/app.go")
	if err != nil {
		return nil, err
	}
	wired, err := wireAuth(dir+"/app.go", appGo)
	if err != nil {
		return nil, err
	}
	files = append(files, file{path: dir + "/app.go", data: wired, policy: rewrite})

	tests, err := legacyTests(a.root, dir)
	if err != nil {
		return nil, err
	}
	files = append(files, tests...)

	index, err := a.read(dir + "/static/index.html")
	if err != nil {
		return nil, err
	}
	page, err := loadAuthScript(dir+"/static/index.html", index)
	if err != nil {
		return nil, err
	}
	files = append(files, file{path: dir + "/static/index.html", data: page, policy: rewrite})

	gomod, err := a.read("go.mod")
	if err != nil {
		return nil, err
	}
	files = append(files, file{path: "go.mod", data: requireModule(gomod, JWTModule), policy: rewrite})

	if err := checkClashes(a.root, files); err != nil {
		return nil, err
	}
	return makePlan(a.root, files, opts.Force)
}

// read returns the content of the app's file at the slash path p.
func (a *app) read(p string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(a.root, filepath.FromSlash(p)))
	if err != nil {
		return nil, fmt.Errorf("mega generate auth edits %s: %w", p, err)
	}
	return b, nil
}

// editError says which edit of a file failed and how to make it by hand.
func editError(path, what, byHand string) error {
	return fmt.Errorf("%s: %s; nothing was written. Make the change by hand, then run mega generate auth again:\n%s", path, what, byHand)
}

// authKey is in app.go once auth is mounted: running Auth again does not
// mount it twice (apps wired before the api router say mountAuth(app, db)).
const authKey = "mountAuth("

// authMount is the call that mounts auth on the app's api router.
const authMount = "mountAuth(app, api, db)"

// authUse installs auth's middlewares on the whole app (see authn.go).
const authUse = "app.Use(auth.secureHeaders, auth.crossOrigin, auth.loadUser, auth.requireUser)"

// apiMountLine is where app.go mounts its api router (rest.Router) at /api;
// mountAuth goes right after it, where app, api and db are in scope.
var apiMountLine = regexp.MustCompile(`(?m)^([ \t]*)r\.Mount\("/api", api\)\n`)

// wireAuth returns app.go with auth wired in (see Auth).
func wireAuth(path string, src []byte) ([]byte, error) {
	out := src
	if !bytes.Contains(src, []byte(authKey)) {
		loc := apiMountLine.FindSubmatchIndex(src)
		if loc == nil {
			return nil, editError(path, "no line `r.Mount(\"/api\", api)` to mount auth after (an app made before package rest has none)",
				"\tapi := rest.Router()\n\tr.Mount(\"/api\", api)\n\tauth, err := "+authMount+"\n\tif err != nil {\n\t\treturn nil, err\n\t}\n\t"+authUse+"\n")
		}
		indent := string(src[loc[2]:loc[3]])
		mount := indent + "auth, err := " + authMount + "\n" +
			indent + "if err != nil {\n" + indent + "\treturn nil, err\n" + indent + "}\n" +
			indent + authUse + "\n"
		out = slices.Concat(src[:loc[1]], []byte(mount), src[loc[1]:])
	}
	out, err := wireChannels(path, out)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(out, []byte("auth.channel(")) {
		return nil, editError(path, "no app.Channel(..., mega.WithAuth(hook), ...) to take its user from the session",
			"\tapp.Channel(ns, auth.track(ch), mega.WithAuth(auth.channel(hook)), mega.WithTokenRefresh(auth.refresh))")
	}
	formatted, err := format.Source(out)
	if err != nil {
		return nil, fmt.Errorf("%s does not parse after wiring auth (is it valid Go?): %w", path, err)
	}
	return formatted, nil
}

// edit replaces src[from:to] with text.
type edit struct {
	from, to int
	text     string
}

// wireChannels edits every app.Channel(ns, ch, ..., mega.WithAuth(hook),
// ...) of src whose hook is a plain name (one not wired yet) into
// app.Channel(ns, auth.track(ch), ..., mega.WithAuth(auth.channel(hook)),
// mega.WithTokenRefresh(auth.refresh), ...), adding
// mega.WithAuthorize(auth.mayEnter) for the chat ("/ws/chat").
func wireChannels(path string, src []byte) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("%s does not parse (is it valid Go?): %w", path, err)
	}
	off := func(p token.Pos) int { return fset.Position(p).Offset }
	var edits []edit
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !isCall(call, "app", "Channel") || len(call.Args) < 3 {
			return true
		}
		for _, arg := range call.Args[2:] {
			opt, ok := arg.(*ast.CallExpr)
			if !ok || !isCall(opt, "mega", "WithAuth") || len(opt.Args) != 1 {
				continue
			}
			hook, ok := opt.Args[0].(*ast.Ident)
			if !ok {
				continue // wired already, or a hook to wire by hand
			}
			if ch, ok := call.Args[1].(*ast.CallExpr); !ok || !isCall(ch, "auth", "track") {
				edits = append(edits, edit{off(call.Args[1].Pos()), off(call.Args[1].Pos()), "auth.track("},
					edit{off(call.Args[1].End()), off(call.Args[1].End()), ")"})
			}
			more := ", mega.WithTokenRefresh(auth.refresh)"
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Value == `"/ws/chat"` {
				more += ", mega.WithAuthorize(auth.mayEnter)"
			}
			edits = append(edits, edit{off(hook.Pos()), off(opt.End()), "auth.channel(" + hook.Name + "))" + more})
		}
		return true
	})
	// Back to front, so that the offsets of the edits still to make hold.
	slices.SortStableFunc(edits, func(a, b edit) int { return b.from - a.from })
	out := slices.Clone(src)
	for _, e := range edits {
		out = slices.Concat(out[:e.from], []byte(e.text), out[e.to:])
	}
	return out, nil
}

// isCall reports whether call calls x.name, x being a package or a
// variable called x.
func isCall(call *ast.CallExpr, x, name string) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == x
}

// Edits of the tests the app had, which ran without auth (see
// legacy_login_test.go in templates/auth): requests sent to the app's
// ServeHTTP directly get a test session, and the case that expected 400
// for a chat upgrade without ?name= goes (without a session it is now 401,
// which the auth tests check).
var (
	directServe    = []byte("app.ServeHTTP(rec, req)")
	withSession    = []byte("app.ServeHTTP(rec, withTestSession(t, app, req))")
	noNameIsBadReq = regexp.MustCompile(`(?m)^[ \t]*\{"no name", "[^"\n]*"\},\n`)
)

// legacyTests returns the test files of the app directory dir edited as
// described above.
func legacyTests(root, dir string) ([]file, error) {
	entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(dir)))
	if err != nil {
		return nil, err
	}
	var out []file
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, "_test.go") {
			continue
		}
		p := dir + "/" + name
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		edited := bytes.ReplaceAll(src, directServe, withSession)
		edited = noNameIsBadReq.ReplaceAll(edited, nil)
		if !bytes.Equal(edited, src) {
			out = append(out, file{path: p, data: edited, policy: rewrite})
		}
	}
	return out, nil
}

// appScript and authScript are the page's script tags before and after.
var (
	appScript  = []byte(`<script type="module" src="/static/app.js"></script>`)
	authScript = []byte(`<script type="module" src="/static/auth.js"></script>`)
)

// loadAuthScript returns the page with auth.js in place of app.js.
func loadAuthScript(path string, page []byte) ([]byte, error) {
	if bytes.Contains(page, authScript) {
		return page, nil
	}
	if !bytes.Contains(page, appScript) {
		return nil, editError(path, "no "+string(appScript)+" to replace with the login form's script",
			"\t"+string(authScript)+"\n(auth.js imports app.js once the user is logged in)")
	}
	return bytes.Replace(page, appScript, authScript, 1), nil
}

// requireModule returns go.mod with a require of mod ("path version")
// added when it requires no version of path; go mod tidy tidies it.
func requireModule(gomod []byte, mod string) []byte {
	path, _, _ := strings.Cut(mod, " ")
	re := regexp.MustCompile(`(?m)^\s*(require\s+)?` + regexp.QuoteMeta(path) + `\s`)
	if re.Match(gomod) {
		return gomod
	}
	out := bytes.TrimRight(gomod, "\n")
	return append(out, []byte("\n\nrequire "+mod+"\n")...)
}
