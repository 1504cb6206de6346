package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/megaframework/mega/internal/testkit"
)

// Deadlines. Every wait polls a condition until its deadline; none sleeps
// for a fixed time.
const (
	buildTimeout = 5 * time.Minute  // go build of the sample (cold cache)
	readyTimeout = 30 * time.Second // an instance answers /readyz
	stopTimeout  = 20 * time.Second // SIGTERM to exit (shutdownTimeout is 10s)
	uiTimeout    = 15 * time.Second // a condition on the page
	pollEvery    = 40 * time.Millisecond
)

var app struct {
	once sync.Once
	dir  string // the app's source (for mega.yaml)
	bin  string // the built binary
	work string // temporary directory, removed by TestMain
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if app.work != "" {
		_ = os.RemoveAll(app.work)
	}
	os.Exit(code)
}

// chromium finds the browser: $MEGA_CHROMIUM, else the usual names on PATH.
func chromium() (string, error) {
	if p := os.Getenv("MEGA_CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("not found")
}

// requireBrowser skips the test when it cannot run here.
func requireBrowser(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: browser tests do not run with -short")
	}
	p, err := chromium()
	if err != nil {
		t.Skip("e2e: no Chromium found (set MEGA_CHROMIUM, or install it: apt-get install chromium); skipping the browser tests")
	}
	return p
}

// buildApp builds the sample app once per test binary.
func buildApp(t *testing.T) {
	t.Helper()
	app.once.Do(func() {
		app.dir = os.Getenv("MEGA_E2E_APP")
		if app.dir == "" {
			app.dir = filepath.Join("..", "sample", "crud")
		}
		if app.dir, app.err = filepath.Abs(app.dir); app.err != nil {
			return
		}
		if _, app.err = os.Stat(filepath.Join(app.dir, "mega.yaml")); app.err != nil {
			app.err = fmt.Errorf("no app at %s: %w", app.dir, app.err)
			return
		}
		if app.work, app.err = os.MkdirTemp("", "mega-e2e-"); app.err != nil {
			return
		}
		app.bin = filepath.Join(app.work, "app")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", app.bin, ".")
		cmd.Dir = app.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			app.err = fmt.Errorf("go build in %s: %v\n%s", app.dir, err, out)
		}
	})
	if app.err != nil {
		t.Fatalf("e2e: building the app: %v", app.err)
	}
}

// eventually reports whether cond holds within timeout, checking it at
// most every pollEvery (a condition here is often a round trip to the
// browser).
func eventually(timeout time.Duration, cond func() bool) bool {
	_, ok := testkit.PollEvery(timeout, pollEvery, cond)
	return ok
}

// instance is one process of the app.
type instance struct {
	name string
	bin  string // the app's binary
	conf string // its mega.yaml
	dir  string // its working directory
	port int
	env  []string
	log  *testkit.Buffer

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// database returns a DATABASE_URL for a new SQLite file. Instances given
// the same one share their rooms, as instances of one deployment do.
func database(t *testing.T) string {
	return "file:" + filepath.Join(t.TempDir(), "app.db") + "?_pragma=busy_timeout(5000)"
}

// startInstance runs the app on a free port with NATS at natsURL and the
// database db, and waits until it is ready. It is stopped when the test
// ends; its log is shown if the test failed.
func startInstance(t *testing.T, name, natsURL, db string) *instance {
	t.Helper()
	buildApp(t)
	// The app writes nothing in its working directory: its database is DATABASE_URL.
	i := &instance{name: name, bin: app.bin, conf: filepath.Join(app.dir, "mega.yaml"), dir: app.work, log: &testkit.Buffer{}}
	return i.run(t, "NATS_URL="+natsURL, "DATABASE_URL="+db, "ROSTER_TTL=5s")
}

// run starts i on a free port with env added to this process's
// environment and waits until it is ready. It is stopped when the test
// ends; its log is shown if the test failed.
func (i *instance) run(t *testing.T, env ...string) *instance {
	t.Helper()
	t.Cleanup(func() {
		i.kill()
		if t.Failed() {
			t.Logf("log of instance %s (port %d):\n%s", i.name, i.port, i.log)
		}
	})
	// A port found free can still be taken before the app binds it; then
	// try another.
	for try := 1; ; try++ {
		i.port = testkit.FreePort(t)
		i.env = append(append(os.Environ(), "PORT="+strconv.Itoa(i.port)), env...)
		if err := i.launch(); err == nil || try == 3 || !errors.Is(err, errPortTaken) {
			if err != nil {
				t.Fatalf("e2e: %v", err)
			}
			return i
		}
	}
}

// URL returns the address of path on this instance.
func (i *instance) URL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", i.port, path)
}

// start runs the process again on the same port, as after a deploy, and
// waits until it is ready.
func (i *instance) start(t *testing.T) {
	t.Helper()
	if err := i.launch(); err != nil {
		t.Fatalf("e2e: %v", err)
	}
}

// errPortTaken means the instance could not listen on its port.
var errPortTaken = errors.New("port already in use")

// launch runs the process and waits for GET /readyz to answer 200.
func (i *instance) launch() error {
	cmd := exec.Command(i.bin, "--config", i.conf)
	cmd.Env = i.env
	cmd.Dir = i.dir
	cmd.Stdout = i.log
	cmd.Stderr = i.log
	fmt.Fprintf(i.log, "--- start %s on :%d\n", i.name, i.port)
	mark := i.log.Len()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start instance %s: %w", i.name, err)
	}
	i.cmd = cmd
	i.exited = make(chan struct{})
	go func(exited chan struct{}) {
		err := cmd.Wait()
		fmt.Fprintf(i.log, "--- %s exited: %v\n", i.name, err)
		close(exited)
	}(i.exited)

	client := &http.Client{Timeout: time.Second}
	ready := eventually(readyTimeout, func() bool {
		select {
		case <-i.exited:
			return true // reported below
		default:
		}
		res, err := client.Get(i.URL("/readyz"))
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	select {
	case <-i.exited:
		if strings.Contains(i.log.String()[mark:], "address already in use") {
			return fmt.Errorf("instance %s: port %d: %w", i.name, i.port, errPortTaken)
		}
		return fmt.Errorf("instance %s exited while starting (its log follows the test)", i.name)
	default:
	}
	if !ready {
		i.kill()
		return fmt.Errorf("instance %s not ready within %v (its log follows the test)", i.name, readyTimeout)
	}
	return nil
}

// stop sends SIGTERM, as a process manager does, and waits for the exit.
func (i *instance) stop(t *testing.T) {
	t.Helper()
	if err := i.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("e2e: SIGTERM to %s: %v", i.name, err)
	}
	select {
	case <-i.exited:
	case <-time.After(stopTimeout):
		i.kill()
		t.Fatalf("e2e: instance %s did not exit within %v of SIGTERM", i.name, stopTimeout)
	}
	if code := i.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("e2e: instance %s exited with %d after SIGTERM, want 0", i.name, code)
	}
}

func (i *instance) kill() {
	if i.cmd == nil {
		return
	}
	select {
	case <-i.exited:
	default:
		_ = i.cmd.Process.Kill()
		<-i.exited
	}
}

// browser is one headless Chromium with a fresh profile.
type browser struct {
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := requireBrowser(t)
	profile, err := os.MkdirTemp("", "mega-e2e-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Tabs in the background must keep their timers and sockets going:
		// reconnect timers run in every tab at once.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.WindowSize(1280, 800),
		chromedp.UserDataDir(profile),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		// Chromium's helpers may still write to the profile for a moment
		// after the browser exits.
		if !eventually(10*time.Second, func() bool { return os.RemoveAll(profile) == nil }) {
			t.Logf("e2e: could not remove the browser profile %s", profile)
		}
	})
	if err := chromedp.Do(ctx); err != nil { // start the browser, without a deadline on its lifetime
		t.Fatalf("e2e: start %s: %v", exe, err)
	}
	return &browser{ctx: ctx}
}

// tab is one browser tab showing the chat page.
type tab struct {
	t       *testing.T
	name    string
	ctx     context.Context
	cancel  context.CancelFunc
	console *testkit.Buffer
	closed  bool
}

// open opens a new tab at url. It is closed when the test ends; its
// console output is shown if the test failed.
func (b *browser) open(t *testing.T, name, url string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	tb := &tab{t: t, name: name, ctx: ctx, cancel: cancel, console: &testkit.Buffer{}}
	t.Cleanup(func() {
		tb.close()
		if t.Failed() {
			t.Logf("console of tab %s:\n%s", tb.name, tb.console)
		}
	})
	if err := chromedp.Do(ctx); err != nil { // open the tab, bound to ctx rather than a deadline
		t.Fatalf("e2e: open tab %s: %v", name, err)
	}
	messages := chromedp.Console(ctx) // subscribes now, before the page loads
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			fmt.Fprintln(tb.console, m.String())
		}
	}()
	tb.do("navigate to "+url, chromedp.Navigate(url))
	return tb
}

// do runs actions with a deadline and fails the test on error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, uiTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("e2e: tab %s: %s: %v", tb.name, what, err)
	}
}

// location returns the page's URL.
func (tb *tab) location() string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, uiTimeout)
	defer cancel()
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		tb.t.Fatalf("e2e: tab %s: location: %v", tb.name, err)
	}
	return url
}

// close closes the tab, as a person closing it does: the page unloads and
// its WebSocket closes.
func (tb *tab) close() {
	if !tb.closed {
		tb.closed = true
		tb.cancel()
	}
}

// view is what the page's data-testid hooks show.
type view struct {
	Status   string   `json:"status"`
	Online   []online `json:"online"`
	Messages []string `json:"messages"`
	Rooms    []string `json:"rooms"`
	Banner   string   `json:"banner"`
	Notice   string   `json:"notice"` // while shown
	Title    string   `json:"title"`  // the current room's name
	// Marked is true while the document tab.mark marked is shown: false
	// after a reload or a navigation.
	Marked bool `json:"marked"`
}

type online struct {
	Text     string `json:"text"`
	Sessions string `json:"sessions"`
}

const viewJS = `(() => {
  const hook = (id) => document.querySelector('[data-testid="' + id + '"]');
  const texts = (id) => [...(hook(id)?.children ?? [])].map((e) => e.textContent.trim());
  const banner = document.getElementById("banner");
  const notice = hook("notice");
  return {
    status: hook("status")?.textContent.trim() ?? "",
    online: [...(hook("online")?.children ?? [])].map((e) => ({ text: e.textContent.trim(), sessions: e.dataset.sessions ?? "" })),
    messages: texts("messages"),
    rooms: texts("rooms"),
    banner: banner && !banner.hidden ? banner.textContent.trim() : "",
    notice: notice && !notice.hidden ? notice.textContent.trim() : "",
    title: document.getElementById("room-title")?.textContent.trim() ?? "",
    marked: window.e2eMark === true,
  };
})()`

// view reads the page's hooks.
func (tb *tab) view() (view, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[view](viewJS))
}

// mark marks the document shown now; view.Marked tells whether it is still
// the one shown (a reload or a navigation drops the mark).
func (tb *tab) mark() {
	tb.t.Helper()
	tb.do("mark the document", chromedp.Evaluate[chromedp.Void](`window.e2eMark = true`))
}

// waitFor polls the page until cond holds, failing the test with the last
// view and the console after uiTimeout.
func (tb *tab) waitFor(what string, cond func(v view) bool) view {
	tb.t.Helper()
	var last view
	var lastErr error
	ok := eventually(uiTimeout, func() bool {
		last, lastErr = tb.view()
		return lastErr == nil && cond(last)
	})
	if !ok {
		tb.t.Fatalf("e2e: tab %s: timed out after %v waiting for %s\nlast view: %+v (error: %v)\nconsole:\n%s",
			tb.name, uiTimeout, what, last, lastErr, tb.console)
	}
	return last
}

// waitStatus waits for the status hook to read s.
func (tb *tab) waitStatus(s string) view {
	tb.t.Helper()
	return tb.waitFor("status "+s, func(v view) bool { return v.Status == s })
}

// say types text into the composer and sends it.
func (tb *tab) say(text string) {
	tb.t.Helper()
	tb.do("send "+text,
		chromedp.WaitEnabled(chromedp.CSS(`[data-testid="chat-send"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="chat-input"]`), text),
		chromedp.Click(chromedp.CSS(`[data-testid="chat-send"]`)),
	)
}

// onlineEntries returns the online children containing user (the tests
// use names that are not part of one another).
func (v view) onlineEntries(user string) []online {
	var out []online
	for _, o := range v.Online {
		if strings.Contains(o.Text, user) {
			out = append(out, o)
		}
	}
	return out
}

// shows reports whether user is listed exactly once.
func (v view) shows(user string) bool { return len(v.onlineEntries(user)) == 1 }

// count returns how many messages contain text.
func (v view) count(text string) int {
	n := 0
	for _, m := range v.Messages {
		if strings.Contains(m, text) {
			n++
		}
	}
	return n
}
