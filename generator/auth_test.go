package generator_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/megaframework/mega/generator"
)

// authApp writes a new app with a posts resource and a notifications
// channel into a temp dir, then plans mega generate auth on it.
func authApp(t *testing.T) (string, *generator.Plan) {
	t.Helper()
	root := newApp(t)
	for _, plan := range []func() (*generator.Plan, error){
		func() (*generator.Plan, error) {
			return generator.Channel(generator.ChannelOptions{Dir: root, Name: "notifications"})
		},
		func() (*generator.Plan, error) {
			return generator.Resource(generator.ResourceOptions{Dir: root, Name: "posts", Live: generator.DefaultLive,
				Fields: mustFields(t, "title:string")})
		},
	} {
		p, err := plan()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Write(io.Discard, false); err != nil {
			t.Fatal(err)
		}
	}
	plan, err := generator.Auth(generator.AuthOptions{Dir: root})
	if err != nil {
		t.Fatalf("Auth: %v", err)
	}
	return root, plan
}

// TestAuthEdits checks the edits mega generate auth makes to the app's own
// files, and that running it twice changes nothing.
func TestAuthEdits(t *testing.T) {
	is := is.New(t)
	root, plan := authApp(t)
	act := actions(plan)
	is.Equal(act["apps/main/app.go"], generator.Update)
	is.Equal(act["apps/main/static/index.html"], generator.Update)
	is.Equal(act["go.mod"], generator.Update)
	is.Equal(act["apps/main/authn.go"], generator.Create)
	is.Equal(act["apps/main/sockets.go"], generator.Create)
	is.Equal(act["apps/main/static/auth.js"], generator.Create)
	is.Equal(act["apps/main/api.go"], generator.Same) // support files the app has are kept
	_, edited := act["apps/main/posts.go"]
	is.True(!edited) // resources are guarded by the app-wide middleware, not one by one

	app := string(plan.File("apps/main/app.go"))
	is.True(strings.Contains(app, "auth, err := mountAuth(app, api, db)"))
	is.Equal(strings.Count(app, "app.Use("), 1) // one line installs auth on the whole app
	is.True(strings.Contains(app, "app.Use(auth.secureHeaders, auth.crossOrigin, auth.loadUser, auth.requireUser)"))
	is.True(strings.Contains(app, `app.Channel("/ws/chat", auth.track(newChat()), mega.WithAuth(auth.channel(chatAuth)), mega.WithTokenRefresh(auth.refresh), mega.WithAuthorize(auth.mayEnter),`))
	is.True(strings.Contains(app, `auth.track(newNotificationsChannel()), mega.WithAuth(auth.channel(nameAuth)), mega.WithTokenRefresh(auth.refresh), mega.WithPresenceEvents())`))
	is.True(!strings.Contains(app, "mega.WithAuth(chatAuth)"))
	is.True(strings.Contains(app, "\tmountPage(r)\n"))                             // the page is left alone
	is.True(strings.Index(app, "mountAuth(") < strings.Index(app, "app.Channel(")) // auth is in scope for the channels
	is.True(strings.Contains(string(plan.File("apps/main/static/index.html")), `src="/static/auth.js"`))
	is.True(!strings.Contains(string(plan.File("apps/main/static/index.html")), `src="/static/app.js"`))
	is.True(strings.Contains(string(plan.File("go.mod")), "require "+generator.JWTModule))

	is.NoErr(plan.Write(io.Discard, false))
	again, err := generator.Auth(generator.AuthOptions{Dir: root})
	is.NoErr(err)
	is.Equal(again.Written(), []string(nil)) // a second run changes nothing

	// A channel generated after auth is wired by running auth again; the
	// channels wired before are left as they are.
	ch, err := generator.Channel(generator.ChannelOptions{Dir: root, Name: "alerts"})
	is.NoErr(err)
	is.NoErr(ch.Write(io.Discard, false))
	again, err = generator.Auth(generator.AuthOptions{Dir: root})
	is.NoErr(err)
	is.Equal(again.Written(), []string{"apps/main/app.go"})
	app = string(again.File("apps/main/app.go"))
	is.True(strings.Contains(app, `auth.track(newAlertsChannel()), mega.WithAuth(auth.channel(nameAuth)), mega.WithTokenRefresh(auth.refresh), mega.WithPresenceEvents())`))
	is.Equal(strings.Count(app, "auth.track("), 3)
	is.Equal(strings.Count(app, "WithTokenRefresh("), 3)
	is.Equal(strings.Count(app, "mountAuth("), 1)
}

// TestAuthRefusesAppsItCannotEdit checks that an app.go without what the
// edits look for is refused with a way out, and nothing is written.
func TestAuthRefusesAppsItCannotEdit(t *testing.T) {
	is := is.New(t)
	root := newApp(t)
	appGo := filepath.Join(root, "apps", "main", "app.go")
	src := readFile(t, root, "apps/main/app.go")
	is.NoErr(os.WriteFile(appGo, []byte(strings.Replace(src, "r.Mount(\"/api\", api)", "r.Mount(\"/v1\", api)", 1)), 0o644))
	_, err := generator.Auth(generator.AuthOptions{Dir: root})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "nothing was written"))
	is.True(strings.Contains(err.Error(), "mountAuth(app, api, db)")) // what to add by hand
	is.True(strings.Contains(err.Error(), "app.Use(auth.secureHeaders"))
	_, err = os.Stat(filepath.Join(root, "apps", "main", "authn.go"))
	is.True(errors.Is(err, os.ErrNotExist))
}

// TestAuthGolden compares the files mega generate auth writes with
// testdata/golden/auth (see TestGolden; -update rewrites them).
func TestAuthGolden(t *testing.T) {
	root := newApp(t)
	plan, err := generator.Auth(generator.AuthOptions{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	// go.mod's replace names the checkout; TestAuthEdits checks it.
	got := planFiles(t, plan, "go.mod")
	checkGolden(t, filepath.Join("testdata", "golden", "auth"), got, "TestGolden|TestAuthGolden")
}

// TestAuthAppBuildsAndPasses is mega new, generate channel and resource,
// then generate auth and go mod tidy, as a user runs them, then a resource
// generated after auth: its changes need a session at once (the app-wide
// middleware; a test written into the app shows it), and a second run of
// auth adapts its tests. The app must be gofmt-clean and vet-clean, and
// its tests (the new auth tests and the ones it had) must pass. It builds
// and runs the app's tests, so -short skips it.
func TestAuthAppBuildsAndPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests a generated app; skipped with -short")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	root, plan := authApp(t)
	if err := plan.Write(io.Discard, false); err != nil {
		t.Fatal(err)
	}
	if err := generator.Tidy(context.Background(), root, io.Discard); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	// A resource generated after auth is guarded without an edit.
	notes, err := generator.Resource(generator.ResourceOptions{Dir: root, Name: "notes", Live: generator.DefaultLive,
		Fields: mustFields(t, "title:string")})
	if err != nil {
		t.Fatal(err)
	}
	if err := notes.Write(io.Discard, false); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "apps", "main", "later_resource_test.go"), []byte(laterResourceTest), 0o644); err != nil {
		t.Fatal(err)
	}
	run("go", "test", "-count=1", "-run", "^TestResourceGeneratedAfterAuth$", "./apps/main")

	// Its tests already send their direct requests with a test session, so
	// running auth again changes nothing.
	again, err := generator.Auth(generator.AuthOptions{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Written(); len(got) != 0 {
		t.Fatalf("auth after a resource writes %v, want nothing", got)
	}
	if err := again.Write(io.Discard, false); err != nil {
		t.Fatal(err)
	}

	if out := run("gofmt", "-l", "."); out != "" {
		t.Fatalf("gofmt -l lists files:\n%s", out)
	}
	run("go", "vet", "./...")
	out := run("go", "test", "-count=1", "./...")
	if !strings.Contains(out, "ok  \tcrud/apps/main") {
		t.Fatalf("go test output:\n%s", out)
	}
}

// laterResourceTest is written into the app after mega generate resource
// notes, which ran after mega generate auth: it uses the helpers of the
// generated auth tests.
const laterResourceTest = `package mainapp_test

import (
	"net/http"
	"testing"

	"github.com/matryer/is"
)

func TestResourceGeneratedAfterAuth(t *testing.T) {
	is := is.New(t)
	srv := startAuthApp(t, "")
	notes := srv.URL + "/api/notes"
	res := do(t, newClient(t), http.MethodPost, notes, ` + "`" + `{"title": "x"}` + "`" + `)
	is.Equal(res.status, http.StatusUnauthorized) // no session: refused
	is.Equal(res.err.Code, "unauthorized")
	is.Equal(do(t, newClient(t), http.MethodDelete, notes+"/1", "").status, http.StatusUnauthorized)
	is.Equal(do(t, newClient(t), http.MethodGet, notes, "").status, http.StatusOK) // reads stay open
	ann := signUp(t, srv, "ann")
	is.Equal(do(t, ann.client, http.MethodPost, notes, ` + "`" + `{"title": "x"}` + "`" + `).status, http.StatusCreated)
	// CSRF and the security headers are app-wide too.
	is.Equal(do(t, ann.client, http.MethodPost, notes, ` + "`" + `{"title": "y"}` + "`" + `, "Sec-Fetch-Site", "cross-site").status, http.StatusForbidden)
	is.Equal(do(t, newClient(t), http.MethodGet, notes, "").header.Get("X-Content-Type-Options"), "nosniff")
}
`
