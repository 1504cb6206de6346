package e2e_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/matryer/is"

	"github.com/megaframework/mega/framework/natstest"
)

var screenshot = flag.String("screenshot", "", "write a screenshot of the chat page to this PNG file (TestScreenshot)")

// TestScreenshot makes the picture of the chat page in the docs:
//
//	go test ./e2e/ -run '^TestScreenshot$' -args -screenshot "$PWD/docs/chat.png"
//
// Without -screenshot it is skipped.
func TestScreenshot(t *testing.T) {
	if *screenshot == "" {
		t.Skip("e2e: pass -screenshot FILE to write a screenshot of the chat page")
	}
	requireBrowser(t)
	is := is.New(t)
	nats := natstest.URL(natstest.StartJetStream(t, ""))
	db := database(t)
	a := startInstance(t, "A", nats, db)
	b := startInstance(t, "B", nats, db)
	for _, room := range []string{
		`{"name":"design","topic":"Mockups, reviews and pixels"}`,
		`{"name":"release-train","topic":"What ships on Friday"}`,
	} {
		res, err := http.Post(a.URL("/api/rooms"), "application/json", strings.NewReader(room))
		is.NoErr(err)
		res.Body.Close()
		is.Equal(res.StatusCode, http.StatusCreated)
	}

	br := newBrowser(t)
	ann := br.open(t, "ann", a.URL("/?name=ann"))
	// A light, fixed-size page, whatever the machine prefers.
	ann.do("emulate a light 1200x760 screen",
		chromedp.EmulateViewport(1200, 760),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}},
			})
			return err
		}),
	)
	ann.waitStatus("connected")
	bob := br.open(t, "bob", b.URL("/?name=bob"))
	bob.waitStatus("connected")
	cy := br.open(t, "cy", b.URL("/?name=cy"))
	cy.waitStatus("connected")
	cy2 := br.open(t, "cy-2", a.URL("/?name=cy"))
	cy2.waitStatus("connected")
	ann.waitFor("everyone online", func(v view) bool {
		return v.shows("bob") && v.shows("cy") && len(v.Rooms) == 3
	})

	lines := []struct {
		who  *tab
		text string
	}{
		{ann, "Morning! Is the new build on staging?"},
		{bob, "Yes, deployed at 9:40. Two instances behind the load balancer."},
		{cy, "I'm on one, bob's on the other, and we still see each other."},
		{ann, "Presence over NATS, no Redis. Nice."},
		{bob, "/w ann lunch at noon?"},
	}
	for i, l := range lines {
		l.who.say(l.text)
		want := l.text
		if after, ok := strings.CutPrefix(want, "/w ann "); ok {
			want = after
		}
		ann.waitFor(fmt.Sprintf("line %d shown", i+1), func(v view) bool { return v.count(want) == 1 })
	}
	ann.do("type a draft", chromedp.SendKeys(chromedp.CSS(`[data-testid="chat-input"]`), "Sure, see you "))

	ctx, cancel := context.WithTimeout(ann.ctx, uiTimeout)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	is.NoErr(err)
	_, err = png.Decode(bytes.NewReader(shot))
	is.NoErr(err) // a PNG
	path, err := filepath.Abs(*screenshot)
	is.NoErr(err)
	is.NoErr(os.WriteFile(path, shot, 0o644))
	t.Logf("wrote %s (%d bytes)", path, len(shot))
}
