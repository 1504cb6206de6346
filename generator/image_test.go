//go:build unix

package generator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"
	"go.yaml.in/yaml/v3"

	"github.com/megaframework/mega/generator"
	"github.com/megaframework/mega/internal/testkit"
)

// TestImageBuildsWithoutTheCheckout does what `task image` and the image do,
// without Docker: it writes a new app, runs the Taskfile's vendor task,
// copies the build context (as .dockerignore filters it) to a directory
// from which go.mod's replace leads nowhere, runs the Dockerfile's go build
// there with the module cache out of reach, puts what the image's COPY
// lines copy into an empty directory, and runs the entrypoint there: the
// app must serve its page, /readyz and /api/rooms (SQLite included), and
// stop on SIGTERM.
//
// The first run compiles every dependency with -trimpath (minutes on two
// cores); later runs take seconds, from the build cache.
func TestImageBuildsWithoutTheCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("vendors and builds a whole app, then runs it")
	}
	is := is.New(t)
	ctx, cancel := context.WithDeadline(context.Background(), testDeadline(t, 9*time.Minute))
	defer cancel()

	// The app, tidied, next to the checkout its replace points at.
	src := filepath.Join(t.TempDir(), "crud")
	plan, err := generator.New(generator.NewOptions{Name: "crud", Module: "example.com/crud", Dir: src, Framework: repoRoot(t)})
	is.NoErr(err)
	is.NoErr(plan.Write(io.Discard, false))
	is.NoErr(generator.Tidy(ctx, src, io.Discard))

	// The vendoring step, as the Taskfile says it.
	for _, cmd := range taskCommands(t, plan.File("Taskfile.yml"), "vendor") {
		run(ctx, t, src, nil, cmd)
	}

	// The build context, where the replace resolves to nothing: deeper in
	// another temp dir than the ..s of the replace climb.
	replace := replaceTarget(t, plan.File("go.mod"))
	buildCtx := t.TempDir()
	for range strings.Count(replace, "..") + 1 {
		buildCtx = filepath.Join(buildCtx, "d")
	}
	buildCtx = filepath.Join(buildCtx, "crud")
	copyContext(t, src, buildCtx, parseDockerIgnore(t, plan.File(".dockerignore")))
	_, err = os.Stat(filepath.Join(buildCtx, filepath.FromSlash(replace), "go.mod"))
	is.True(errors.Is(err, fs.ErrNotExist)) // the framework checkout is out of reach
	if rel, err := filepath.Rel(repoRoot(t), buildCtx); err == nil && !strings.HasPrefix(rel, "..") {
		t.Fatalf("the build context %s is inside the checkout", buildCtx)
	}

	// The Dockerfile's build, in the builder's WORKDIR (the context's copy).
	d := parseDockerfile(t, plan.File("Dockerfile"))
	img := d.final()
	var build *dockerStage
	for _, c := range img.copies {
		if c.from != "" {
			build = d.stage(t, c.from)
		}
	}
	is.True(build != nil) // the image copies from a build stage
	is.Equal(len(build.copies), 1)
	is.Equal(build.copies[0], dockerCopy{src: []string{"."}, dst: build.workdir, stageDir: build.workdir}) // COPY . . : the context is the builder's WORKDIR
	env, argv := build.goBuild(t)
	env["GOWORK"] = "off"           // no go.work in the image either
	env["GOMODCACHE"] = t.TempDir() // nor a module cache
	env["GOENV"] = "off"            // nor a go env file
	start := time.Now()
	run(ctx, t, buildCtx, env, argv)
	t.Logf("go build from vendor/: %s", time.Since(start).Round(time.Millisecond))

	// The image's files: what its COPY lines put under its WORKDIR.
	// The builder's WORKDIR is buildCtx; the image's is runDir.
	runDir := filepath.Join(t.TempDir(), "app")
	var want []string
	for _, c := range img.copies {
		rel, ok := strings.CutPrefix(c.dst, img.workdir+"/")
		if !ok {
			t.Fatalf("COPY to %s: outside the image's WORKDIR %s", c.dst, img.workdir)
		}
		src := c.src[0] // relative to the context
		if c.from != "" {
			var ok bool
			if src, ok = strings.CutPrefix(resolve(c.stageDir, src), build.workdir+"/"); !ok {
				t.Fatalf("COPY --from=%s %s: outside the builder's WORKDIR %s", c.from, c.src[0], build.workdir)
			}
		}
		from := filepath.Join(buildCtx, filepath.FromSlash(src))
		copyFile(t, from, filepath.Join(runDir, filepath.FromSlash(rel)))
		want = append(want, rel)
	}
	slices.Sort(want)
	is.Equal(listFiles(t, runDir), want) // the image's files, and nothing else

	// Run it as the image does, with the environment compose gives it.
	entry, ok := strings.CutPrefix(img.entrypoint[0], img.workdir+"/")
	is.True(ok)
	port := testkit.FreePort(t)
	runEnv := map[string]string{}
	for k, v := range img.env {
		runEnv[k] = v
	}
	runEnv["PORT"] = fmt.Sprint(port)
	runEnv["NATS_URL"] = "embedded"
	app := startProcess(t, runDir, runEnv, filepath.Join(runDir, entry))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	waitFor(ctx, t, app, base+"/readyz", http.StatusOK)
	waitFor(ctx, t, app, base+"/api/rooms", http.StatusOK)
	page := get(ctx, t, base+"/", http.StatusOK)
	is.True(strings.Contains(page, `data-testid="online"`)) // the embedded page
	get(ctx, t, base+"/static/app.js", http.StatusOK)
	post(ctx, t, base+"/api/rooms", `{"name": "kitchen", "topic": "food"}`, http.StatusCreated)
	var rooms []struct{ Name string }
	is.NoErr(json.Unmarshal([]byte(get(ctx, t, base+"/api/rooms", http.StatusOK)), &rooms))
	is.Equal(len(rooms), 1)
	is.Equal(rooms[0].Name, "kitchen")
	_, err = os.Stat(filepath.Join(runDir, "data", "app.db"))
	is.NoErr(err) // SQLite wrote data/ next to the binary: the image's data dir

	// docker stop sends SIGTERM: the app stops by itself, and cleanly.
	is.NoErr(app.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-app.done:
		if app.err != nil {
			t.Fatalf("after SIGTERM the app exited with %v\n%s", app.err, app.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the app did not stop within 30s of SIGTERM\n%s", app.out.String())
	}
}

// testDeadline is max from now, or earlier if go test's -timeout ends first
// (with time left to report).
func testDeadline(t *testing.T, max time.Duration) time.Time {
	d := time.Now().Add(max)
	if td, ok := t.Deadline(); ok && td.Add(-30*time.Second).Before(d) {
		d = td.Add(-30 * time.Second)
	}
	return d
}

// taskCommands returns the commands of a task in a Taskfile, as words.
func taskCommands(t *testing.T, taskfile []byte, name string) [][]string {
	t.Helper()
	var tf struct {
		Tasks map[string]struct {
			Cmds []any `yaml:"cmds"` // a command, or {task: ...}, {defer: ...}
		} `yaml:"tasks"`
	}
	if err := yaml.Unmarshal(taskfile, &tf); err != nil {
		t.Fatalf("Taskfile.yml: %v", err)
	}
	task, ok := tf.Tasks[name]
	if !ok || len(task.Cmds) == 0 {
		t.Fatalf("Taskfile.yml has no task %q with commands", name)
	}
	var out [][]string
	for _, c := range task.Cmds {
		s, ok := c.(string)
		if !ok {
			t.Fatalf("Taskfile.yml: task %s: %v is not a plain command; teach taskCommands", name, c)
		}
		words, err := shellWords(s)
		if err != nil {
			t.Fatalf("Taskfile.yml: task %s: %v", name, err)
		}
		out = append(out, words)
	}
	return out
}

// replaceTarget returns where go.mod's replace of the framework points.
func replaceTarget(t *testing.T, gomod []byte) string {
	t.Helper()
	m := replaceLine.Find(gomod)
	if m == nil {
		t.Fatal("go.mod has no replace of the framework")
	}
	_, target, _ := strings.Cut(string(m), "=> ")
	return strings.TrimSpace(target)
}

// run runs argv in dir and fails the test with its output if it fails. env,
// when not nil, is set on top of the test's environment without the
// variables that steer the go command, so only what the caller says counts.
func run(ctx context.Context, t *testing.T, dir string, env map[string]string, argv []string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = environ(env)
	}
	// go build runs compilers as children: end them all on the deadline.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s (in %s): %v (context: %v)\n%s", strings.Join(argv, " "), dir, err, ctx.Err(), out)
	}
}

// environ returns the test's environment without GO* and CGO_* variables,
// plus env.
func environ(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GO") && k != "GOCACHE" || strings.HasPrefix(k, "CGO_") {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// copyContext copies the directory src to dst, leaving out what ignore
// leaves out of a Docker build context.
func copyContext(t *testing.T, src, dst string, ignore dockerIgnore) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
			return nil
		case ignore.ignores(rel) && d.IsDir():
			return filepath.SkipDir
		case ignore.ignores(rel), d.IsDir():
			return nil
		}
		copyFile(t, p, filepath.Join(dst, filepath.FromSlash(rel)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// copyFile copies a file, keeping its mode.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	info, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// listFiles returns the files under dir, slash-separated and sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// process is a child process; done closes when it has exited, with err.
type process struct {
	cmd  *exec.Cmd
	out  *testkit.Buffer
	done chan struct{}
	err  error
}

// startProcess runs bin in dir with exactly env. The test's cleanup kills
// it if it still runs and waits for it, so no process outlives the test.
func startProcess(t *testing.T, dir string, env map[string]string, bin string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin), out: &testkit.Buffer{}, done: make(chan struct{})}
	p.cmd.Dir = dir
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitFor polls url until it answers status, failing if the process exits
// or ctx ends first.
func waitFor(ctx context.Context, t *testing.T, p *process, url string, status int) {
	t.Helper()
	timeout := time.Minute
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	last, answered, exited := "no answer", false, false
	testkit.PollEvery(timeout, 100*time.Millisecond, func() bool {
		select {
		case <-p.done:
			exited = true
			return true
		default:
		}
		code, body, err := fetch(ctx, http.MethodGet, url, "")
		switch {
		case err != nil:
			last = err.Error()
		case code == status:
			answered = true
			return true
		default:
			last = fmt.Sprintf("%d %s", code, body)
		}
		return ctx.Err() != nil
	})
	switch {
	case exited:
		t.Fatalf("the app exited (%v) before %s answered %d\n%s", p.err, url, status, p.out.String())
	case !answered:
		t.Fatalf("%s did not answer %d in time; last: %s\n%s", url, status, last, p.out.String())
	}
}

func get(ctx context.Context, t *testing.T, url string, status int) string {
	t.Helper()
	return expect(ctx, t, http.MethodGet, url, "", status)
}

func post(ctx context.Context, t *testing.T, url, body string, status int) string {
	t.Helper()
	return expect(ctx, t, http.MethodPost, url, body, status)
}

func expect(ctx context.Context, t *testing.T, method, url, body string, status int) string {
	t.Helper()
	code, got, err := fetch(ctx, method, url, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if code != status {
		t.Fatalf("%s %s: %d %s, want %d", method, url, code, got, status)
	}
	return got
}

// fetch makes one request, bounded by ctx and by 5 seconds.
func fetch(ctx context.Context, method, url, body string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
