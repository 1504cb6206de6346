//go:build unix

package devloop

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/matryer/is"
	"github.com/megaframework/mega/internal/testkit"
)

// The integration tests run the real loop (go build, the embedded NATS,
// fsnotify) on testdata/app, a small mega app, copied to a temp dir with a
// go.mod that points at this checkout.

// firstBuild bounds the first build of the fixture (a cold build cache
// compiles the framework and nats-server).
const firstBuild = 3 * time.Minute

// repoRoot finds the checkout this package is in.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/megaframework/mega\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find the mega checkout above", dir)
		}
		dir = parent
	}
}

// copyFixture copies testdata/app to a temp dir and writes its go.mod: the
// checkout's requirements (so it builds offline from the module cache),
// plus mega itself replaced by the checkout.
func copyFixture(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	dst := t.TempDir()
	copyTree(t, "testdata/app", dst)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("module devfixture\n\n")
	inRequire := false
	for _, line := range strings.Split(string(gomod), "\n") {
		switch {
		case strings.HasPrefix(line, "go "):
			b.WriteString(line + "\n\nrequire github.com/megaframework/mega v0.0.0\n\n")
		case line == "require (":
			inRequire = true
			b.WriteString(line + "\n")
		case inRequire:
			b.WriteString(line + "\n")
			inRequire = line != ")"
		case strings.HasPrefix(line, "require "):
			b.WriteString(line + "\n")
		}
	}
	b.WriteString("\nreplace github.com/megaframework/mega => " + root + "\n")
	if err := os.WriteFile(filepath.Join(dst, "go.mod"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	gosum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "go.sum"), gosum, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// copyApp copies a mega app with its own go.mod (such as sample/crud) to a
// temp dir, pointing its replace directive at this checkout.
func copyApp(t testing.TB, src string) string {
	t.Helper()
	root := repoRoot(t)
	dst := t.TempDir()
	copyTree(t, src, dst)
	p := filepath.Join(dst, "go.mod")
	gomod, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^replace github.com/megaframework/mega => .*$`)
	if !re.Match(gomod) {
		t.Fatalf("%s/go.mod does not replace github.com/megaframework/mega", src)
	}
	gomod = re.ReplaceAll(gomod, []byte("replace github.com/megaframework/mega => "+root))
	if err := os.WriteFile(p, gomod, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// copyTree copies the files under src to dst, leaving out what a run
// leaves behind (tmp/, data/, bin/).
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			switch d.Name() {
			case "tmp", "data", "bin":
				if rel != "." {
					return filepath.SkipDir
				}
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// devRun is mega dev running in the test process.
type devRun struct {
	dir  string
	port int
	out  *testkit.Buffer
	stop func() error
}

func startDev(t *testing.T, opts Options) *devRun {
	t.Helper()
	return startDevIn(t, copyFixture(t), opts)
}

// startDevIn runs mega dev on the app in dir.
func startDevIn(t *testing.T, dir string, opts Options) *devRun {
	t.Helper()
	out := &testkit.Buffer{}
	port := testkit.FreePorts(t, max(opts.Instances, 1))
	opts.Dir, opts.Port, opts.Out = dir, port, out
	if opts.Delay == 0 {
		opts.Delay = 50 * time.Millisecond
	}
	opts.Env = setEnv(os.Environ(), "NATS_URL", "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts) }()
	stopped := false
	var err error
	stop := func() error {
		if stopped {
			return err
		}
		stopped = true
		cancel()
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("mega dev did not stop within 30s")
		}
		if t.Failed() || os.Getenv("DEVLOOP_SHOW") != "" {
			t.Logf("mega dev output:\n%s", out.String())
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return &devRun{dir: dir, port: port, out: out, stop: stop}
}

// edit rewrites a file of the app the way an editor saves it.
func (d *devRun) edit(t testing.TB, rel string, fn func(string) string) {
	t.Helper()
	p := filepath.Join(d.dir, filepath.FromSlash(rel))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(fn(string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (d *devRun) waitVersion(t testing.TB, port int, v string, timeout time.Duration) {
	t.Helper()
	testkit.WaitFor(t, timeout, "version "+v+" on port "+strconv.Itoa(port), func() bool {
		return fetch(portURL(port, "/version")) == v
	})
}

func (d *devRun) waitOutput(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	testkit.WaitFor(t, timeout, "output "+strconv.Quote(s), func() bool { return strings.Contains(d.out.String(), s) })
}

// natsPort is the port of the NATS server mega dev hosts, from its banner.
func (d *devRun) natsPort(t testing.TB) int {
	t.Helper()
	m := regexp.MustCompile(`NATS at nats://127\.0\.0\.1:(\d+)`).FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatal("no NATS address in the output")
	}
	p, _ := strconv.Atoi(m[1])
	return p
}

// eventStream is a browser's view of /_mega/dev/events.
type eventStream struct {
	lines chan string // data lines; closed when the stream ends
	body  io.Closer
}

func openEvents(t testing.TB, port int) *eventStream {
	t.Helper()
	res, err := http.Get(portURL(port, "/_mega/dev/events"))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /_mega/dev/events: %s", res.Status)
	}
	es := &eventStream{lines: make(chan string, 64), body: res.Body}
	go func() {
		defer close(es.lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				es.lines <- data
			}
		}
	}()
	t.Cleanup(func() { res.Body.Close() })
	return es
}

// expect waits for a data line containing every part.
func (es *eventStream) expect(t testing.TB, parts ...string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-es.lines:
			if !ok {
				t.Fatalf("the event stream ended before %q", parts)
			}
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		case <-deadline:
			t.Fatalf("no event with %q", parts)
		}
	}
}

// expectEnd waits for the stream to end: its process stopped.
func (es *eventStream) expectEnd(t *testing.T) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-es.lines:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the event stream did not end")
		}
	}
}

func fetchHTML(t *testing.T, port int, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, portURL(port, path), nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	res, err := noKeepAlive.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return string(body)
}

func TestDevLoopOnRealApp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a real app several times")
	}
	is := is.New(t)
	d := startDev(t, Options{})
	d.waitVersion(t, d.port, "v1", firstBuild)
	d.waitOutput(t, "ready: app:"+strconv.Itoa(d.port), 10*time.Second)
	natsPort := d.natsPort(t)

	// Pages get the live-reload script.
	is.True(strings.Contains(fetchHTML(t, d.port, "/"), `<script src="/_mega/dev.js"></script></body>`))

	// A static file is served from disk: browsers reload, nothing builds.
	events := openEvents(t, d.port)
	events.expect(t, `"id"`) // hello
	d.edit(t, "static/style.css", func(string) string { return "h1 { color: tomato; }\n" })
	events.expect(t, `"type":"reload"`, `static/style.css`)
	is.Equal(fetch(portURL(d.port, "/static/style.css")), "h1 { color: tomato; }\n")
	is.Equal(strings.Count(d.out.String(), "building…"), 1)

	// An edited Go file is rebuilt and the new version serves; the page's
	// event stream ends with the old process (the script then reloads).
	d.edit(t, "main.go", func(s string) string { return strings.Replace(s, `"v1"`, `"v2"`, 1) })
	d.waitVersion(t, d.port, "v2", time.Minute)
	events.expectEnd(t)
	d.waitOutput(t, "after the save", 10*time.Second)

	// A compile error keeps v2 answering and is printed, file:line first.
	events = openEvents(t, d.port)
	d.edit(t, "main.go", func(s string) string { return s + "\nvar broken = undefinedThing\n" })
	d.waitOutput(t, "undefined: undefinedThing", time.Minute)
	is.True(regexp.MustCompile(`(?m)^\./main\.go:\d+:\d+: undefined: undefinedThing$`).MatchString(d.out.String()))
	is.True(strings.Contains(d.out.String(), "keeps running the previous build"))
	events.expect(t, `"ok":false`, `undefinedThing`) // the page shows it
	is.Equal(fetch(portURL(d.port, "/version")), "v2")

	// Fixing it brings the new version.
	d.edit(t, "main.go", func(s string) string {
		s = strings.Replace(s, "\nvar broken = undefinedThing\n", "", 1)
		return strings.Replace(s, `"v2"`, `"v3"`, 1)
	})
	d.waitVersion(t, d.port, "v3", time.Minute)

	// Stopping leaves no process, no listener and no tmp/.
	is.NoErr(d.stop())
	assertAllGone(t, nil, d.port, natsPort)
	_, err := os.Stat(filepath.Join(d.dir, "tmp"))
	is.True(os.IsNotExist(err))
}

// TestDevLoopTwoInstancesShareTheBus runs the generated sample (sample/crud)
// with --instances 2, or the fixture when the checkout has no sample.
func TestDevLoopTwoInstancesShareTheBus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a real app")
	}
	is := is.New(t)
	var dir string
	if sample := filepath.Join(repoRoot(t), "sample", "crud"); fileExists(filepath.Join(sample, "go.mod")) {
		dir = copyApp(t, sample)
	} else {
		dir = copyFixture(t)
	}
	// devmark.go's init prints a version line, so the test can tell which
	// build each instance runs.
	mark := func(v string) {
		src := "package main\n\nimport \"fmt\"\n\nfunc init() { fmt.Println(\"devmark " + v + "\") }\n"
		is.NoErr(os.WriteFile(filepath.Join(dir, "devmark.go"), []byte(src), 0o644))
	}
	mark("v1")
	d := startDevIn(t, dir, Options{Instances: 2})
	a, b := d.port, d.port+1
	running := func(v string, timeout time.Duration) {
		t.Helper()
		for _, p := range []int{a, b} {
			d.waitOutput(t, "[app:"+strconv.Itoa(p)+"] devmark "+v+"\n", timeout)
			testkit.WaitFor(t, 10*time.Second, "/readyz on "+strconv.Itoa(p), func() bool { return fetch(portURL(p, "/readyz")) != "" })
		}
	}
	running("v1", firstBuild)
	natsPort := d.natsPort(t)
	chatCrosses(t, a, b)

	// Restarts keep the bus: the new processes meet on the same NATS.
	mark("v2")
	running("v2", time.Minute)
	chatCrosses(t, b, a)

	is.NoErr(d.stop())
	assertAllGone(t, nil, a, b, natsPort)
}

// chatCrosses connects ann to one instance and bob to the other (the
// sample's chat protocol) and checks that ann's chat message reaches bob.
func chatCrosses(t *testing.T, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type frame struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
		Ref     string          `json:"ref"`
	}
	// next reads frames until one of type typ (and ref, if not empty).
	next := func(c *websocket.Conn, typ, ref string) frame {
		t.Helper()
		for {
			var f frame
			if err := wsjson.Read(ctx, c, &f); err != nil {
				t.Fatalf("waiting for %s: %v", typ, err)
			}
			if f.Type == typ && (ref == "" || f.Ref == ref) {
				return f
			}
		}
	}
	dial := func(port int, name string) *websocket.Conn {
		u := "ws://127.0.0.1:" + strconv.Itoa(port) + "/ws/chat?name=" + url.QueryEscape(name)
		c, _, err := websocket.Dial(ctx, u, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", u, err)
		}
		t.Cleanup(func() { c.CloseNow() })
		next(c, "welcome", "")
		return c
	}
	ann, bob := dial(from, "ann"), dial(to, "bob")
	defer ann.Close(websocket.StatusNormalClosure, "")
	defer bob.Close(websocket.StatusNormalClosure, "")

	// Wait until ann's instance sees bob in the cluster roster.
	testkit.WaitFor(t, 20*time.Second, "bob in ann's roster", func() bool {
		ref := strconv.FormatInt(time.Now().UnixNano(), 36)
		if err := wsjson.Write(ctx, ann, map[string]any{"type": "roster.get", "ref": ref}); err != nil {
			t.Fatal(err)
		}
		var roster struct {
			Members []struct {
				UserID string `json:"userId"`
			} `json:"members"`
		}
		if err := json.Unmarshal(next(ann, "roster", ref).Payload, &roster); err != nil {
			t.Fatal(err)
		}
		for _, m := range roster.Members {
			if m.UserID == "bob" {
				return true
			}
		}
		return false
	})
	if err := wsjson.Write(ctx, ann, map[string]any{"type": "chat.send", "payload": map[string]string{"text": "hi bob"}}); err != nil {
		t.Fatal(err)
	}
	var msg struct {
		From struct {
			UserID string `json:"userId"`
		} `json:"from"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(next(bob, "chat.message", "").Payload, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.From.UserID != "ann" || msg.Text != "hi bob" {
		t.Fatalf("bob got %+v", msg)
	}
}

// startMegaCLI builds the mega binary and runs `mega dev --instances 2`
// on the fixture as a terminal would: in its own process group. It returns
// the command, its exit channel and the pids of the two app processes.
func startMegaCLI(t *testing.T) (cmd *exec.Cmd, exited chan error, d *devRun, apps []int) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mega")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mega")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build mega: %v\n%s", err, out)
	}
	dir := copyFixture(t)
	port := testkit.FreePorts(t, 2)
	out := &testkit.Buffer{}
	cmd = exec.Command(bin, "dev", "--instances", "2", "--port", strconv.Itoa(port), "--dir", dir)
	cmd.Env = setEnv(os.Environ(), "NATS_URL", "")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own "terminal" process group
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("mega output:\n%s", out.String())
		}
	})
	for _, p := range []int{port, port + 1} {
		testkit.WaitFor(t, firstBuild, "v1 on port "+strconv.Itoa(p), func() bool { return fetch(portURL(p, "/version")) == "v1" })
	}
	// The instances: mega's children, each leading its own process group.
	testkit.WaitFor(t, 10*time.Second, "two app processes", func() bool {
		apps = childrenOf(t, cmd.Process.Pid)
		return len(apps) == 2
	})
	return cmd, exited, &devRun{dir: dir, port: port, out: out}, apps
}

// TestCtrlCStopsEverything presses Ctrl-C (SIGINT to mega's process
// group): mega must exit 0 having stopped every instance (nothing left in
// their process groups, nothing reparented), closed every port and removed
// tmp/.
func TestCtrlCStopsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the mega CLI and a real app")
	}
	is := is.New(t)
	cmd, exited, d, apps := startMegaCLI(t)
	natsPort := d.natsPort(t)

	is.NoErr(syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)) // Ctrl-C
	select {
	case err := <-exited:
		is.NoErr(err) // exit status 0
	case <-time.After(30 * time.Second):
		t.Fatal("mega dev did not exit after Ctrl-C")
	}
	for _, pid := range apps {
		if !gone(pid) {
			t.Errorf("app process %d survived mega dev", pid)
		}
		if err := syscall.Kill(-pid, 0); err == nil {
			t.Errorf("process group %d still has members", pid)
		}
	}
	for _, p := range []int{d.port, d.port + 1, natsPort} {
		is.True(refuses(p))
	}
	_, err := os.Stat(filepath.Join(d.dir, "tmp"))
	is.True(os.IsNotExist(err))
	is.True(strings.Contains(d.out.String(), "stopped: no process left running"))
}

// TestKilledSupervisorLeavesNoApps kills mega with SIGKILL, which it cannot
// handle: the kernel still sends its apps SIGTERM (Pdeathsig), so they stop
// and free their ports instead of living on as orphans.
func TestKilledSupervisorLeavesNoApps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the mega CLI and a real app")
	}
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux only")
	}
	cmd, exited, d, apps := startMegaCLI(t)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL to mega alone
		t.Fatal(err)
	}
	<-exited
	testkit.WaitFor(t, 20*time.Second, "the orphaned apps to stop", func() bool {
		for _, pid := range apps {
			if !gone(pid) {
				return false
			}
		}
		return refuses(d.port) && refuses(d.port+1)
	})
}

// childrenOf returns the pids whose parent is pid.
func childrenOf(t testing.TB, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid := procState(p); state != "" && state != "Z" && ppid == pid {
			out = append(out, p)
		}
	}
	return out
}
