package generator_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/megaframework/mega/generator"
)

func TestNewPlansTheWholeApp(t *testing.T) {
	is := is.New(t)
	dir := filepath.Join(t.TempDir(), "chat")
	plan, err := generator.New(generator.NewOptions{Name: "chat", Module: "example.com/chat", Dir: dir, Framework: repoRoot(t)})
	is.NoErr(err)
	got := actions(plan)
	for _, p := range []string{".gitignore", "README.md", "Taskfile.yml", "go.mod", "main.go", "mega.yaml",
		"Dockerfile", ".dockerignore", "compose.yaml",
		"apps/main/app.go", "apps/main/chat.go", "apps/main/rooms.go", "apps/main/static/index.html",
		"apps/main/chat_test.go", "apps/main/rooms_test.go", "apps/main/cluster_test.go"} {
		is.Equal(got[p], generator.Create) // every file of the app is planned
	}
	gomod := string(plan.File("go.mod"))
	is.True(strings.HasPrefix(gomod, "module example.com/chat\n"))
	is.True(strings.Contains(gomod, "replace github.com/megaframework/mega => "))
	is.True(strings.Contains(string(plan.File("main.go")), `mainapp "example.com/chat/apps/main"`))

	// Planning writes nothing; a dry run neither.
	var out bytes.Buffer
	is.NoErr(plan.Write(&out, true))
	_, err = os.Stat(dir)
	is.True(errors.Is(err, os.ErrNotExist))
	is.True(strings.Contains(out.String(), "  create  apps/main/rooms.go\n"))
}

func TestNewIsDeterministic(t *testing.T) {
	is := is.New(t)
	dir := filepath.Join(t.TempDir(), "crud")
	a, err := generator.New(generator.NewOptions{Name: "crud", Dir: dir, Framework: repoRoot(t)})
	is.NoErr(err)
	b, err := generator.New(generator.NewOptions{Name: "crud", Dir: dir, Framework: repoRoot(t)})
	is.NoErr(err)
	is.Equal(a.Changes, b.Changes)
}

func TestNewRefusesANonEmptyDir(t *testing.T) {
	is := is.New(t)
	dir := filepath.Join(t.TempDir(), "crud")
	is.NoErr(os.MkdirAll(dir, 0o755))
	is.NoErr(os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644))
	is.NoErr(os.WriteFile(filepath.Join(dir, "README.md"), []byte("old"), 0o644))

	_, err := generator.New(generator.NewOptions{Name: "crud", Dir: dir, Framework: repoRoot(t)})
	var ne *generator.NotEmptyError
	is.True(errors.As(err, &ne))
	is.True(strings.Contains(err.Error(), "--force"))

	// --force writes the app, replacing its files, and deletes nothing.
	plan, err := generator.New(generator.NewOptions{Name: "crud", Dir: dir, Framework: repoRoot(t), Force: true})
	is.NoErr(err)
	is.Equal(actions(plan)["README.md"], generator.Replace)
	is.NoErr(plan.Write(&bytes.Buffer{}, false))
	is.Equal(readFile(t, dir, "notes.txt"), "mine")
	is.True(strings.HasPrefix(readFile(t, dir, "README.md"), "# crud"))
}

func TestNewRefusesBadNames(t *testing.T) {
	is := is.New(t)
	_, err := generator.New(generator.NewOptions{Name: "Bad Name", Framework: repoRoot(t)})
	is.True(errors.Is(err, generator.ErrInvalid))
	_, err = generator.New(generator.NewOptions{Name: "ok", Module: "bad//module", Framework: repoRoot(t)})
	is.True(errors.Is(err, generator.ErrInvalid))
}

func TestGenerateIsIdempotent(t *testing.T) {
	is := is.New(t)
	root := newApp(t)
	opts := generator.ResourceOptions{Dir: root, Name: "posts", Fields: mustFields(t, "title:string")}
	plan, err := generator.Resource(opts)
	is.NoErr(err)
	is.Equal(actions(plan)["apps/main/posts.go"], generator.Create)
	is.Equal(actions(plan)["apps/main/app.go"], generator.Update)
	is.Equal(actions(plan)["apps/main/api.go"], generator.Same)
	is.NoErr(plan.Write(&bytes.Buffer{}, false))
	appGo := readFile(t, root, "apps/main/app.go")

	again, err := generator.Resource(opts)
	is.NoErr(err)
	is.Equal(len(again.Written()), 0) // nothing to do the second time
	is.NoErr(again.Write(&bytes.Buffer{}, false))
	is.Equal(readFile(t, root, "apps/main/app.go"), appGo)
	is.Equal(strings.Count(appGo, "mountPosts(api, app, db)"), 1)

	ch := generator.ChannelOptions{Dir: root, Name: "alerts"}
	plan, err = generator.Channel(ch)
	is.NoErr(err)
	is.NoErr(plan.Write(&bytes.Buffer{}, false))
	plan, err = generator.Channel(ch)
	is.NoErr(err)
	is.Equal(len(plan.Written()), 0)
	is.Equal(strings.Count(readFile(t, root, "apps/main/app.go"), `app.Channel("/ws/alerts"`), 1)
}

func TestGenerateRefusesToOverwrite(t *testing.T) {
	is := is.New(t)
	root := newApp(t)
	is.NoErr(os.WriteFile(filepath.Join(root, "apps/main/posts.go"), []byte("package mainapp\n"), 0o644))
	opts := generator.ResourceOptions{Dir: root, Name: "posts", Fields: mustFields(t, "title:string")}

	_, err := generator.Resource(opts)
	var ce *generator.ConflictError
	is.True(errors.As(err, &ce))
	is.Equal(ce.Paths, []string{"apps/main/posts.go"})
	is.True(!strings.Contains(readFile(t, root, "apps/main/app.go"), "mountPosts")) // nothing written

	opts.Force = true
	plan, err := generator.Resource(opts)
	is.NoErr(err)
	is.Equal(actions(plan)["apps/main/posts.go"], generator.Replace)
}

func TestGenerateRefusesClashesAndTakenNamespaces(t *testing.T) {
	root := newApp(t)
	cases := []struct {
		name string
		plan func() (*generator.Plan, error)
		want string
	}{
		{"resource type clashes with the chat channel", func() (*generator.Plan, error) {
			return generator.Resource(generator.ResourceOptions{Dir: root, Name: "chats", Fields: mustFields(t, "title:string")})
		}, "declare Chat, which apps/main/chat.go already declares"},
		{"channel namespace already mounted", func() (*generator.Plan, error) {
			return generator.Channel(generator.ChannelOptions{Dir: root, Name: "chat"})
		}, `already uses "/ws/chat"`},
		{"resource already there", func() (*generator.Plan, error) {
			return generator.Resource(generator.ResourceOptions{Dir: root, Name: "rooms", Fields: mustFields(t, "title:string")})
		}, "apps/main/rooms.go, apps/main/rooms_test.go already exist"},
		{"not an app", func() (*generator.Plan, error) {
			return generator.Channel(generator.ChannelOptions{Dir: t.TempDir(), Name: "alerts"})
		}, "go.mod"},
		{"no such app", func() (*generator.Plan, error) {
			return generator.Channel(generator.ChannelOptions{Dir: root, App: "admin", Name: "alerts"})
		}, "apps/admin/app.go"},
		{"live namespace not mounted", func() (*generator.Plan, error) {
			return generator.Resource(generator.ResourceOptions{Dir: root, Name: "posts", Live: "/ws/feed", Fields: mustFields(t, "title:string")})
		}, `mounts no channel at "/ws/feed" (no app.Channel("/ws/feed", ...)); pass --live /ws/chat, or --no-live`},
		{"live namespace not a path", func() (*generator.Plan, error) {
			return generator.Resource(generator.ResourceOptions{Dir: root, Name: "posts", Live: "chat", Fields: mustFields(t, "title:string")})
		}, `--live "chat": a namespace is a path like /ws/chat`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			_, err := tc.plan()
			is.True(err != nil)
			is.True(strings.Contains(err.Error(), tc.want)) // the message explains
		})
	}
}

func TestGenerateResourceNeedsTheAPIRouter(t *testing.T) {
	is := is.New(t)
	root := newApp(t)
	appGo := filepath.Join(root, "apps/main/app.go")
	src := readFile(t, root, "apps/main/app.go")
	old := strings.Replace(src, "api := rest.Router()", "", 1) // an app made before package rest
	is.True(old != src)
	is.NoErr(os.WriteFile(appGo, []byte(old), 0o644))

	_, err := generator.Resource(generator.ResourceOptions{Dir: root, Name: "posts", Fields: mustFields(t, "title:string")})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "apps/main/app.go has no api router"))
	is.True(strings.Contains(err.Error(), "api := rest.Router()")) // the lines to add
}

func TestGenerateLiveFindsMountedNamespaces(t *testing.T) {
	is := is.New(t)
	root := newApp(t)
	plan, err := generator.Channel(generator.ChannelOptions{Dir: root, Name: "feed"})
	is.NoErr(err)
	is.NoErr(plan.Write(&bytes.Buffer{}, false))

	plan, err = generator.Resource(generator.ResourceOptions{Dir: root, Name: "posts", Live: "/ws/feed", Fields: mustFields(t, "title:string")})
	is.NoErr(err) // a namespace mega generate channel mounted
	src := string(plan.File("apps/main/posts.go"))
	is.True(strings.Contains(src, `live: "/ws/feed"`))
	is.True(strings.Contains(src, `h.publish(r, "posts.created", map[string]Post{"post": item})`))
	is.True(strings.Contains(string(plan.File("apps/main/posts_test.go")), `srv.Dial(t, "/ws/feed?name="+name)`))

	_, err = generator.Resource(generator.ResourceOptions{Dir: root, Name: "posts", Live: "/ws/news", Fields: mustFields(t, "title:string")})
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "pass --live /ws/chat or --live /ws/feed, or --no-live")) // every mounted namespace is offered
	is.True(!errors.Is(err, generator.ErrInvalid))                                                  // the app, not the command line, lacks it

	plan, err = generator.Resource(generator.ResourceOptions{Dir: root, Name: "posts", Fields: mustFields(t, "title:string")})
	is.NoErr(err) // no live events: nothing to check
	src = string(plan.File("apps/main/posts.go"))
	is.True(!strings.Contains(src, "Broadcast"))
	is.True(!strings.Contains(string(plan.File("apps/main/posts_test.go")), "megatest"))
}

func TestGenerateHandlesSupportFiles(t *testing.T) {
	is := is.New(t)
	root := newApp(t)
	is.NoErr(os.Remove(filepath.Join(root, "apps/main/auth.go")))
	is.NoErr(os.WriteFile(filepath.Join(root, "apps/main/api.go"), []byte(readFile(t, root, "apps/main/api.go")+"\n// edited\n"), 0o644))

	plan, err := generator.Channel(generator.ChannelOptions{Dir: root, Name: "alerts"})
	is.NoErr(err)
	got := actions(plan)
	is.Equal(got["apps/main/auth.go"], generator.Create) // a missing support file comes back
	is.Equal(got["apps/main/api.go"], generator.Keep)    // an edited one is left alone
}

func TestGenerateFindsTheAppFromASubdirectory(t *testing.T) {
	is := is.New(t)
	root := newApp(t) // before Chdir: it finds the checkout from the working directory
	t.Chdir(filepath.Join(root, "apps", "main", "static"))
	plan, err := generator.Channel(generator.ChannelOptions{Name: "alerts"})
	is.NoErr(err)
	is.Equal(plan.Root, root)
}
