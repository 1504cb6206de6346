//go:build unix

package devloop

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/megaframework/mega/internal/testkit"
	"github.com/nats-io/nats.go"
)

// loopRun is a supervisor loop driven by hand: batches are sent on
// changes, builds are fake.
type loopRun struct {
	s       *supervisor
	fb      *fakeBuild
	out     *testkit.Buffer
	changes chan Batch
	port    int
	stop    func()
}

func startLoop(t *testing.T, opts Options, fb *fakeBuild) *loopRun {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fake\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &testkit.Buffer{}
	opts.Dir, opts.Out = dir, out
	if opts.Port == 0 {
		opts.Port = testkit.FreePorts(t, max(opts.Instances, 1))
	}
	if opts.Grace == 0 {
		opts.Grace = 2 * time.Second
	}
	if opts.Env == nil {
		opts.Env = setEnv(os.Environ(), "NATS_URL", "") // the supervisor hosts NATS
	}
	opts, err := opts.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	s := newSupervisor(opts)
	s.build = fb.build(s.next)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	changes := make(chan Batch)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.loop(ctx, changes)
	}()
	var once bool
	stop := func() {
		if once {
			return
		}
		once = true
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("the loop did not stop")
		}
		s.close()
		if t.Failed() || os.Getenv("DEVLOOP_SHOW") != "" {
			t.Logf("output:\n%s", out.String())
		}
	}
	t.Cleanup(stop)
	return &loopRun{s: s, fb: fb, out: out, changes: changes, port: opts.Port, stop: stop}
}

func (r *loopRun) change(t *testing.T, paths ...string) {
	t.Helper()
	b := Batch{First: time.Now()}
	for _, p := range paths {
		b.Changes = append(b.Changes, Change{Path: p, Kind: Classify(p)})
	}
	select {
	case r.changes <- b:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop does not take changes")
	}
}

func (r *loopRun) waitVersion(t *testing.T, port int, v string) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "version "+v+" on port "+strconv.Itoa(port), func() bool {
		return fetch(portURL(port, "/version")) == v
	})
}

func (r *loopRun) waitOutput(t *testing.T, s string) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "output "+strconv.Quote(s), func() bool { return strings.Contains(r.out.String(), s) })
}

func pidOn(t *testing.T, port int) int {
	t.Helper()
	pid, err := strconv.Atoi(fetch(portURL(port, "/pid")))
	if err != nil {
		t.Fatalf("no pid on port %d", port)
	}
	return pid
}

// assertAllGone checks that nothing the loop started is left: no child of
// this process (zombies included), the given processes ended, and no
// listener on the ports.
func assertAllGone(t *testing.T, pids []int, ports ...int) {
	t.Helper()
	testkit.WaitFor(t, 5*time.Second, "no child processes", func() bool { return len(children(t)) == 0 })
	for _, pid := range pids {
		if !gone(pid) {
			st, ppid := procState(pid)
			t.Errorf("process %d is still there (state %s, parent %d)", pid, st, ppid)
		}
	}
	for _, p := range ports {
		if !refuses(p) {
			t.Errorf("port %d still accepts connections", p)
		}
	}
}

func TestLoopRebuildsAndRestarts(t *testing.T) {
	is := is.New(t)
	fb := &fakeBuild{version: "v1"}
	r := startLoop(t, Options{}, fb)
	r.waitVersion(t, r.port, "v1")
	r.waitOutput(t, "ready: app:"+strconv.Itoa(r.port))
	first := pidOn(t, r.port)

	// The instance gets the port, the supervisor's NATS and dev mode.
	is.Equal(fetch(portURL(r.port, "/env?k=PORT")), strconv.Itoa(r.port))
	is.Equal(fetch(portURL(r.port, "/env?k=NATS_URL")), r.s.natsURL)
	is.Equal(fetch(portURL(r.port, "/env?k=MEGA_DEV")), "1")

	fb.set(func(f *fakeBuild) { f.version = "v2" })
	r.change(t, "main.go")
	r.waitVersion(t, r.port, "v2")
	second := pidOn(t, r.port)
	is.True(second != first)
	is.True(gone(first)) // stopped and reaped before the new one started
	r.waitOutput(t, "after the save")

	r.stop()
	assertAllGone(t, []int{first, second}, r.port)
	_, err := os.Stat(r.s.tmpDir)
	is.True(os.IsNotExist(err)) // tmp/ removed
}

func TestLoopFailedBuildKeepsServing(t *testing.T) {
	is := is.New(t)
	fb := &fakeBuild{version: "v1"}
	r := startLoop(t, Options{}, fb)
	r.waitVersion(t, r.port, "v1")
	pid := pidOn(t, r.port)

	// Browsers hear about the failure.
	nc, err := nats.Connect(r.s.natsURL)
	is.NoErr(err)
	defer nc.Close()
	notices, err := nc.SubscribeSync(r.s.subject)
	is.NoErr(err)
	is.NoErr(nc.Flush())

	fb.set(func(f *fakeBuild) { f.fail = "# fake\n./main.go:7:2: undefined: nope\n" })
	r.change(t, "main.go")
	r.waitOutput(t, "./main.go:7:2: undefined: nope")
	is.True(strings.Contains(r.out.String(), "app:"+strconv.Itoa(r.port)+" keeps running the previous build"))
	is.Equal(fetch(portURL(r.port, "/version")), "v1")
	is.Equal(pidOn(t, r.port), pid) // the same process
	msg, err := notices.NextMsg(5 * time.Second)
	is.NoErr(err)
	is.True(strings.Contains(string(msg.Data), `"ok":false`))
	is.True(strings.Contains(string(msg.Data), "undefined: nope"))

	fb.set(func(f *fakeBuild) { f.fail, f.version = "", "v2" })
	r.change(t, "main.go")
	r.waitVersion(t, r.port, "v2")
	msg, err = notices.NextMsg(5 * time.Second)
	is.NoErr(err)
	is.Equal(string(msg.Data), `{"ok":true,"type":"build"}`)
}

func TestLoopNewerChangeCancelsBuild(t *testing.T) {
	is := is.New(t)
	fb := &fakeBuild{version: "v1"}
	r := startLoop(t, Options{}, fb)
	r.waitVersion(t, r.port, "v1")
	pid := pidOn(t, r.port)

	gate := make(chan struct{})
	fb.set(func(f *fakeBuild) { f.gate, f.version = gate, "v2" })
	r.change(t, "a.go")
	testkit.WaitFor(t, 5*time.Second, "the build of a.go to start", func() bool { started, _ := fb.counts(); return started == 2 })
	fb.set(func(f *fakeBuild) { f.version = "v3" })
	r.change(t, "b.go")
	testkit.WaitFor(t, 5*time.Second, "the first build canceled", func() bool { _, canceled := fb.counts(); return canceled == 1 })
	close(gate)
	r.waitVersion(t, r.port, "v3")
	started, canceled := fb.counts()
	is.Equal(started, 3)
	is.Equal(canceled, 1)
	is.Equal(strings.Count(r.out.String(), "restarted app:"), 1) // one restart for the two saves
	is.True(gone(pid))
}

func TestLoopTwoInstances(t *testing.T) {
	is := is.New(t)
	fb := &fakeBuild{version: "v1"}
	r := startLoop(t, Options{Instances: 2}, fb)
	r.waitVersion(t, r.port, "v1")
	r.waitVersion(t, r.port+1, "v1")
	is.Equal(fetch(portURL(r.port+1, "/env?k=PORT")), strconv.Itoa(r.port+1))
	is.Equal(fetch(portURL(r.port+1, "/env?k=NATS_URL")), r.s.natsURL) // one NATS for both
	r.waitOutput(t, "[app:"+strconv.Itoa(r.port+1)+"] fake app v1")    // prefixed output
	pids := []int{pidOn(t, r.port), pidOn(t, r.port+1)}

	fb.set(func(f *fakeBuild) { f.version = "v2" })
	r.change(t, "main.go")
	r.waitVersion(t, r.port, "v2")
	r.waitVersion(t, r.port+1, "v2")
	pids = append(pids, pidOn(t, r.port), pidOn(t, r.port+1))
	r.stop()
	assertAllGone(t, pids, r.port, r.port+1)
}

func TestLoopKillsWhatIgnoresTERM(t *testing.T) {
	is := is.New(t)
	fb := &fakeBuild{version: "v1", extraEnv: "FAKE_IGNORE_TERM=1 FAKE_CHILD=1"}
	r := startLoop(t, Options{Grace: 300 * time.Millisecond}, fb)
	r.waitVersion(t, r.port, "v1")
	pid := pidOn(t, r.port)
	child, err := strconv.Atoi(fetch(portURL(r.port, "/child")))
	is.NoErr(err)
	is.True(!gone(child))

	fb.set(func(f *fakeBuild) { f.version = "v2" })
	r.change(t, "main.go")
	r.waitVersion(t, r.port, "v2")
	r.waitOutput(t, "did not stop within 300ms and was killed")
	is.True(gone(pid))
	is.True(gone(child)) // the app's own child went with its group

	pids := []int{pid, child, pidOn(t, r.port)}
	r.stop()
	assertAllGone(t, pids, r.port)
}

func TestLoopReportsCrashAndRecovers(t *testing.T) {
	fb := &fakeBuild{version: "v1", extraEnv: "FAKE_CRASH=1"}
	r := startLoop(t, Options{}, fb)
	r.waitOutput(t, "exited (exit status 3)")

	fb.set(func(f *fakeBuild) { f.extraEnv = "" })
	r.change(t, "main.go")
	r.waitVersion(t, r.port, "v1")
}

func TestLoopConfigChangeRestartsWithoutBuild(t *testing.T) {
	is := is.New(t)
	fb := &fakeBuild{version: "v1"}
	r := startLoop(t, Options{}, fb)
	r.waitVersion(t, r.port, "v1")
	pid := pidOn(t, r.port)

	r.change(t, "mega.yaml")
	testkit.WaitFor(t, 10*time.Second, "a new process", func() bool {
		p, err := strconv.Atoi(fetch(portURL(r.port, "/pid")))
		return err == nil && p != pid
	})
	started, _ := fb.counts()
	is.Equal(started, 1) // no build
}

func TestLoopUnchangedBinaryKeepsRunning(t *testing.T) {
	is := is.New(t)
	fb := &fakeBuild{version: "v1"}
	r := startLoop(t, Options{}, fb)
	r.waitVersion(t, r.port, "v1")
	pid := pidOn(t, r.port)

	r.change(t, "main.go") // e.g. a comment at the end: same binary
	r.waitOutput(t, "the binary did not change")
	is.Equal(pidOn(t, r.port), pid)
}

func TestLoopReloadsStaticServedFromDisk(t *testing.T) {
	is := is.New(t)
	fb := &fakeBuild{version: "v1"}
	r := startLoop(t, Options{}, fb)
	r.waitVersion(t, r.port, "v1")
	static := filepath.Join(r.s.opts.Dir, "apps", "main", "static")
	fb.set(func(f *fakeBuild) { f.extraEnv = "FAKE_STATIC=" + static })
	r.change(t, "main.go") // rebuild with FAKE_STATIC set
	r.waitOutput(t, "after the save")
	testkit.WaitFor(t, 5*time.Second, "the app's static dirs", func() bool { return fetch(portURL(r.port, "/_mega/dev/info")) != "" })

	nc, err := nats.Connect(r.s.natsURL)
	is.NoErr(err)
	defer nc.Close()
	notices, err := nc.SubscribeSync(r.s.subject)
	is.NoErr(err)
	is.NoErr(nc.Flush())

	started, _ := fb.counts()
	r.change(t, "apps/main/static/style.css")
	msg, err := notices.NextMsg(5 * time.Second)
	is.NoErr(err)
	is.Equal(string(msg.Data), `{"files":["apps/main/static/style.css"],"type":"reload"}`)
	again, _ := fb.counts()
	is.Equal(again, started) // no build

	// An asset outside the served directories may be embedded: rebuild.
	r.change(t, "apps/main/templates/page.tmpl")
	testkit.WaitFor(t, 5*time.Second, "a build", func() bool { n, _ := fb.counts(); return n == started+1 })
}
