package e2e_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/matryer/is"

	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/generator"
	"github.com/megaframework/mega/internal/testkit"
)

// authApp is an app made with mega new + mega generate auth, built once
// per test binary.
var authApp struct {
	once sync.Once
	work string // temporary directory of the source and the binary
	dir  string // the app's source (for mega.yaml)
	bin  string
	err  error
}

// buildAuthApp generates the app in a temporary directory and builds it.
func buildAuthApp(t *testing.T) {
	t.Helper()
	authApp.once.Do(func() {
		authApp.err = func() error {
			framework, err := filepath.Abs("..")
			if err != nil {
				return err
			}
			work, err := os.MkdirTemp("", "mega-e2e-auth-")
			if err != nil {
				return err
			}
			authApp.work = work
			authApp.dir = filepath.Join(work, "authapp")
			plan, err := generator.New(generator.NewOptions{Name: "authapp", Dir: authApp.dir, Framework: framework})
			if err != nil {
				return fmt.Errorf("mega new: %w", err)
			}
			if err := plan.Write(io.Discard, false); err != nil {
				return fmt.Errorf("mega new: %w", err)
			}
			plan, err = generator.Auth(generator.AuthOptions{Dir: authApp.dir})
			if err != nil {
				return fmt.Errorf("mega generate auth: %w", err)
			}
			if err := plan.Write(io.Discard, false); err != nil {
				return fmt.Errorf("mega generate auth: %w", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
			defer cancel()
			if err := generator.Tidy(ctx, authApp.dir, io.Discard); err != nil {
				return fmt.Errorf("go mod tidy: %w", err)
			}
			authApp.bin = filepath.Join(work, "authapp-bin")
			cmd := exec.CommandContext(ctx, "go", "build", "-o", authApp.bin, ".")
			cmd.Dir = authApp.dir
			cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go build in %s: %v\n%s", authApp.dir, err, out)
			}
			return nil
		}()
	})
	if authApp.err != nil {
		t.Fatalf("e2e: building the app with auth: %v", authApp.err)
	}
}

// startAuthApp runs the generated app on a free port, with its own NATS
// (JetStream, for the chat's history) and database, until the test ends.
func startAuthApp(t *testing.T) *instance {
	t.Helper()
	buildAuthApp(t)
	i := &instance{name: "auth", bin: authApp.bin, conf: filepath.Join(authApp.dir, "mega.yaml"), dir: t.TempDir(), log: &testkit.Buffer{}}
	nats := natstest.URL(natstest.StartJetStream(t, ""))
	return i.run(t, "NATS_URL="+nats, "DATABASE_URL="+database(t), "AUTH_SECRET=an e2e secret of at least thirty-two bytes")
}

// chatLine is one message the page shows.
type chatLine struct {
	From string `json:"from"`
	Text string `json:"text"`
}

const chatLinesJS = `[...document.querySelectorAll('[data-testid="messages"] > *')].map((li) => ({
  from: li.querySelector(".from")?.textContent.trim() ?? "",
  text: li.querySelector(".text")?.textContent.trim() ?? "",
}))`

// saidBy returns who the page shows as the sender of text ("" when the
// page does not show it yet).
func (tb *tab) saidBy(text string) string {
	tb.t.Helper()
	var from string
	if !eventually(uiTimeout, func() bool {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		defer cancel()
		lines, err := chromedp.Run(ctx, chromedp.Evaluate[[]chatLine](chatLinesJS))
		if err != nil {
			return false
		}
		for _, l := range lines {
			if l.Text == text {
				from = l.From
				return true
			}
		}
		return false
	}) {
		tb.t.Fatalf("e2e: tab %s: %q not shown within %v; console:\n%s", tb.name, text, uiTimeout, tb.console)
	}
	return from
}

// register fills the page's login form and registers name.
func (tb *tab) register(name, password string) {
	tb.t.Helper()
	tb.do("register "+name,
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="auth-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="auth-name"]`), name),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="auth-password"]`), password),
		chromedp.Click(chromedp.CSS(`[data-testid="auth-register"]`)),
	)
}

// TestAuthLogin: an app with mega generate auth, two people in two
// browsers (two cookie jars). Each registers through the page's form and
// chats; messages carry the logged-in names, and bob cannot speak as ann,
// neither by opening /?name=ann nor with a socket of his own that claims
// her name. Logging out closes the session's other tabs.
func TestAuthLogin(t *testing.T) {
	requireBrowser(t)  // skip before building anything
	t.Cleanup(func() { // the one test of the app: its source and binary go with it
		if authApp.work != "" {
			_ = os.RemoveAll(authApp.work)
		}
	})
	srv := startAuthApp(t)
	is := is.New(t)
	const password = "correct horse battery"

	// Nobody is logged in: the page shows the form.
	annBrowser, bobBrowser := newBrowser(t), newBrowser(t)
	ann := annBrowser.open(t, "ann", srv.URL("/"))
	ann.register("ann", password)
	ann.waitStatus("connected")
	is.True(strings.Contains(ann.location(), "name=ann")) // the page shows who is logged in

	bob := bobBrowser.open(t, "bob", srv.URL("/"))
	bob.register("bob", password)
	bob.waitStatus("connected")
	ann.waitFor("ann sees bob", func(v view) bool { return v.shows("bob") && v.shows("ann") })
	bob.waitFor("bob sees ann", func(v view) bool { return v.shows("ann") && v.shows("bob") })

	// Messages carry the logged-in names.
	ann.say("hello from ann")
	is.Equal(bob.saidBy("hello from ann"), "ann")
	bob.say("hi ann")
	is.Equal(ann.saidBy("hi ann"), "bob")

	// bob opens /?name=ann: still bob.
	spoof := bobBrowser.open(t, "bob as ann?", srv.URL("/?name=ann"))
	spoof.waitStatus("connected")
	spoof.say("I am ann, honest")
	is.Equal(ann.saidBy("I am ann, honest"), "bob")
	is.Equal(bob.saidBy("I am ann, honest"), "bob")

	// Nor can his own socket claim her name: the server ignores ?name=.
	spoof.do("open a socket as ?name=ann", chromedp.Evaluate[chromedp.Void](`(() => {
  const ws = new WebSocket("ws://" + location.host + "/ws/chat?name=ann");
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data);
    if (f.type !== "welcome") return;
    window.e2eSpoofUser = f.payload.userId;
    ws.send(JSON.stringify({ type: "chat.send", payload: { text: "raw socket as ann" } }));
  };
})()`))
	is.Equal(ann.saidBy("raw socket as ann"), "bob")
	var user string
	is.True(eventually(uiTimeout, func() bool {
		ctx, cancel := context.WithTimeout(spoof.ctx, 5*time.Second)
		defer cancel()
		user, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`window.e2eSpoofUser ?? ""`))
		return user != ""
	}))
	is.Equal(user, "bob") // the welcome says who the socket is

	// bob logs out in one tab: his session's other sockets close, so he
	// leaves ann's list though a tab of his is still open.
	spoof.do("log out", chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)))
	spoof.do("the form is back", chromedp.WaitVisible(chromedp.CSS(`[data-testid="auth-form"]`)))
	ann.waitFor("bob leaves ann's list", func(v view) bool { return !v.shows("bob") && v.shows("ann") })
	bob.waitFor("bob's other tab is disconnected", func(v view) bool { return v.Status != "connected" })
}
