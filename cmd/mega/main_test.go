package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

// mega runs the CLI in-process and returns its exit code and output.
func mega(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"mega"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestUsageErrorsExitWith2AndAHint(t *testing.T) {
	t.Chdir(t.TempDir())
	cases := []struct {
		args []string
		want string // in the first line of stderr
		hint string // the command whose help the hint names
	}{
		{nil, "missing command", "mega"},
		{[]string{"bogus"}, `unknown command "bogus"`, "mega"},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus", "mega"},
		{[]string{"new"}, "missing NAME", "mega new"},
		{[]string{"new", "a", "b"}, "want one NAME", "mega new"},
		{[]string{"new", "--bogus", "x"}, "flag provided but not defined: -bogus", "mega new"},
		{[]string{"new", "x", "--module"}, "flag needs an argument: -module", "mega new"},
		{[]string{"new", "Bad Name"}, `"bad-name"`, "mega new"},
		{[]string{"new", "ok", "--module", "a//b"}, "empty element", "mega new"},
		{[]string{"generate"}, "missing command", "mega generate"},
		{[]string{"generate", "bogus"}, `unknown command "bogus"`, "mega generate"},
		{[]string{"generate", "channel"}, "missing NAME", "mega generate channel"},
		{[]string{"generate", "channel", "Bad"}, `use lowercase letters`, "mega generate channel"},
		{[]string{"generate", "resource"}, "missing NAME", "mega generate resource"},
		{[]string{"generate", "resource", "posts"}, "at least one field", "mega generate resource"},
		{[]string{"g", "resource", "posts", "title:varchar"}, "did you mean title:string", "mega generate resource"},
		{[]string{"generate", "resource", "posts", "title"}, "write name:type", "mega generate resource"},
		{[]string{"generate", "resource", "posts", "title:string", "--live", "chat"}, "a namespace is a path like /ws/chat", "mega generate resource"},
		{[]string{"generate", "resource", "posts", "title:string", "--live", "/ws/chat", "--no-live"}, "contradict", "mega generate resource"},
		{[]string{"config"}, "missing command", "mega config"},
		{[]string{"config", "check", "extra"}, `unexpected argument "extra"`, "mega config check"},
		{[]string{"version", "now"}, `unexpected argument "now"`, "mega version"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			is := is.New(t)
			code, _, stderr := mega(t, tc.args...)
			is.Equal(code, exitUsage)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			is.Equal(len(lines), 2)                                   // the error, then one hint line
			is.True(strings.HasPrefix(lines[0], tc.hint+": "))        // the error names the command
			is.True(strings.Contains(lines[0], tc.want))              // and says what is wrong
			is.Equal(lines[1], "Run '"+tc.hint+" --help' for usage.") // the hint
		})
	}
}

func TestHelpExitsWith0(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "generate"},
		{[]string{"-h"}, "config"},
		{[]string{"help"}, "version"},
		{[]string{"new", "--help"}, "--module PATH"},
		{[]string{"help", "new"}, "--framework DIR"},
		{[]string{"generate", "--help"}, "resource"},
		{[]string{"generate", "resource", "--help"}, "time     required time in RFC 3339"},
		{[]string{"generate", "channel", "-h"}, "/ws/NAME"},
		{[]string{"config", "check", "--help"}, "--config FILE"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			is := is.New(t)
			code, stdout, stderr := mega(t, tc.args...)
			is.Equal(code, exitOK)
			is.Equal(stderr, "")
			is.True(strings.Contains(stdout, tc.want)) // the help text
		})
	}
}

func TestNew(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	t.Chdir(dir)

	code, stdout, stderr := mega(t, "new", "crud", "--skip-tidy")
	is.Equal(stderr, "")
	is.Equal(code, exitOK)
	is.True(strings.Contains(stdout, "  create  apps/main/rooms.go\n"))
	is.True(strings.Contains(stdout, "cd crud"))
	_, err := os.Stat(filepath.Join(dir, "crud", "apps", "main", "chat.go"))
	is.NoErr(err)

	// A second time the directory is not empty: refused, exit 1.
	code, _, stderr = mega(t, "new", "crud", "--skip-tidy")
	is.Equal(code, exitFailure)
	is.True(strings.Contains(stderr, "crud exists and is not empty"))

	// Flags may follow the name.
	code, _, stderr = mega(t, "new", "chat", "--module", "example.com/chat", "--skip-tidy")
	is.Equal(code, exitOK)
	gomod, err := os.ReadFile(filepath.Join(dir, "chat", "go.mod"))
	is.NoErr(err)
	is.True(strings.HasPrefix(string(gomod), "module example.com/chat\n"))

	// --dry-run writes nothing.
	code, stdout, _ = mega(t, "new", "--dry-run", "ghost")
	is.Equal(code, exitOK)
	is.True(strings.Contains(stdout, "  create  go.mod\n"))
	is.True(strings.Contains(stdout, "nothing was written"))
	_, err = os.Stat(filepath.Join(dir, "ghost"))
	is.True(os.IsNotExist(err))

	// --framework must point at a mega checkout.
	code, _, stderr = mega(t, "new", "other", "--framework", dir, "--skip-tidy")
	is.Equal(code, exitFailure)
	is.True(strings.Contains(stderr, "--framework"))
}

func TestGenerate(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	t.Chdir(dir)
	code, _, stderr := mega(t, "new", "crud", "--skip-tidy")
	is.Equal(code, exitOK)
	is.Equal(stderr, "")

	// Outside an app (no go.mod above the temp dir).
	code, _, stderr = mega(t, "generate", "channel", "alerts")
	is.Equal(code, exitFailure)
	is.True(strings.Contains(stderr, "go.mod"))

	// With --dir, from anywhere.
	code, stdout, stderr := mega(t, "generate", "channel", "alerts", "--dir", "crud")
	is.Equal(stderr, "")
	is.Equal(code, exitOK)
	is.True(strings.Contains(stdout, "  create  apps/main/alerts_channel.go\n"))
	is.True(strings.Contains(stdout, "  update  apps/main/app.go\n"))

	// Inside the app; flags after the fields; a dry run first.
	t.Chdir(filepath.Join(dir, "crud"))
	code, stdout, _ = mega(t, "generate", "resource", "posts", "title:string", "body:text", "--dry-run")
	is.Equal(code, exitOK)
	is.True(strings.Contains(stdout, "  create  apps/main/posts.go\n"))
	_, err := os.Stat("apps/main/posts.go")
	is.True(os.IsNotExist(err)) // a dry run writes nothing

	code, _, _ = mega(t, "generate", "resource", "posts", "title:string", "body:text")
	is.Equal(code, exitOK)
	code, stdout, _ = mega(t, "generate", "resource", "posts", "title:string", "body:text")
	is.Equal(code, exitOK)
	is.True(strings.Contains(stdout, "Nothing to do")) // idempotent

	// Other content in the way is refused unless --force.
	code, _, stderr = mega(t, "generate", "resource", "posts", "title:string")
	is.Equal(code, exitFailure)
	is.True(strings.Contains(stderr, "pass --force"))
	code, stdout, _ = mega(t, "generate", "resource", "posts", "title:string", "--force")
	is.Equal(code, exitOK)
	is.True(strings.Contains(stdout, " replace  apps/main/posts.go\n"))

	// Live events go to /ws/chat by default, to a namespace the app mounts
	// with --live, and nowhere with --no-live or --live "".
	posts, err := os.ReadFile("apps/main/posts.go")
	is.NoErr(err)
	is.True(strings.Contains(string(posts), `live: "/ws/chat"`))
	code, _, stderr = mega(t, "generate", "resource", "notes", "body:text", "--live", "/ws/feed")
	is.Equal(code, exitFailure)
	is.True(strings.Contains(stderr, `mounts no channel at "/ws/feed"`))
	is.True(strings.Contains(stderr, "pass --live /ws/alerts or --live /ws/chat, or --no-live")) // what to pass
	code, _, _ = mega(t, "generate", "resource", "notes", "body:text", "--live", "/ws/alerts")
	is.Equal(code, exitOK)
	notes, err := os.ReadFile("apps/main/notes.go")
	is.NoErr(err)
	is.True(strings.Contains(string(notes), `live: "/ws/alerts"`))
	for _, off := range [][]string{{"--no-live"}, {"--live", ""}, {"--live="}} {
		code, _, _ = mega(t, append([]string{"generate", "resource", "tags", "label:string", "--force"}, off...)...)
		is.Equal(code, exitOK)
		tags, err := os.ReadFile("apps/main/tags.go")
		is.NoErr(err)
		is.True(!strings.Contains(string(tags), "Broadcast")) // no live events
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("apps/main/app.go", "package mainapp\n")
	good := write("good.yaml", "apps: [main]\nwsCluster: {bus: main, roster: {driver: nats}}\nservices: {buses: {main: {driver: nats, url: embedded}}}\n")
	bad := write("bad.yaml", "apps: [main]\nlogger: {level: loud}\nwsCluster: {bus: main, roster: {driver: redis}}\nservices: {buses: {main: {driver: nats}}}\n")
	unknownApp := write("admin.yaml", "apps: [main, admin]\n")

	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr []string
	}{
		{"valid", []string{"--config", good}, exitOK, "ok\n", nil},
		{"every problem", []string{"--config", bad}, exitFailure, "", []string{"logger.level", "wsCluster.roster.driver", `"redis"`}},
		{"an app that is not under apps/", []string{"--config", unknownApp}, exitFailure, "", []string{"apps[1]", `"admin"`, "directories under"}},
		{"no such file", []string{"--config", filepath.Join(dir, "nope.yaml")}, exitFailure, "", []string{"nope.yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			code, stdout, stderr := mega(t, append([]string{"config", "check"}, tc.args...)...)
			is.Equal(code, tc.code)
			is.Equal(stdout, tc.stdout)
			for _, s := range tc.stderr {
				is.True(strings.Contains(stderr, s)) // every problem is listed
			}
		})
	}

	// Without --config: mega.yaml in the working directory.
	is := is.New(t)
	write("mega.yaml", "apps: [main]\n")
	t.Chdir(dir)
	code, stdout, _ := mega(t, "config", "check")
	is.Equal(code, exitOK)
	is.Equal(stdout, "ok\n")
}

func TestVersion(t *testing.T) {
	is := is.New(t)
	code, stdout, _ := mega(t, "version")
	is.Equal(code, exitOK)
	is.True(strings.HasPrefix(stdout, "mega "))
	is.True(strings.Contains(stdout, "framework checkout: "))
}

// TestScaffoldBuildsAndPasses is what a new user does: mega new (with go
// mod tidy), mega generate channel and resource, then gofmt, go vet and go
// test inside the app. It builds real binaries, so -short skips it.
func TestScaffoldBuildsAndPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests a generated app; skipped with -short")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	dir := t.TempDir()
	t.Chdir(dir)
	step := func(name string, args ...string) {
		t.Helper()
		start := time.Now()
		code, stdout, stderr := mega(t, args...)
		if code != exitOK {
			t.Fatalf("mega %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
		}
		t.Logf("%s: %s", name, time.Since(start).Round(time.Millisecond))
	}
	step("new", "new", "myapp", "--module", "example.com/myapp")
	app := filepath.Join(dir, "myapp")
	t.Chdir(app)
	step("generate channel", "generate", "channel", "notifications")
	step("generate resource", "generate", "resource", "posts",
		"title:string", "body:text", "views:int", "published:bool", "published_at:time")
	step("generate resource --live", "generate", "resource", "notes", "body:text", "--live", "/ws/notifications")
	step("generate resource --no-live", "generate", "resource", "tags", "label:string", "--no-live")

	goCmd := func(args ...string) string {
		t.Helper()
		start := time.Now()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = app
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("%s: %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
		return string(out)
	}
	if out := goCmd("gofmt", "-l", "."); out != "" {
		t.Fatalf("gofmt -l lists files:\n%s", out)
	}
	goCmd("go", "vet", "./...")
	out := goCmd("go", "test", "-count=1", "./...")
	for _, want := range []string{"ok  \texample.com/myapp/apps/main"} {
		if !strings.Contains(out, want) {
			t.Fatalf("go test output lacks %q:\n%s", want, out)
		}
	}
}
