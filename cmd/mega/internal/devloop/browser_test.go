//go:build unix

package devloop

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/megaframework/mega/internal/testkit"
)

// findChromium returns the browser to drive: $MEGA_CHROMIUM, else the
// usual names on PATH, else "".
func findChromium() string {
	if p := os.Getenv("MEGA_CHROMIUM"); p != "" {
		if exe, err := exec.LookPath(p); err == nil {
			return exe
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"} {
		if exe, err := exec.LookPath(name); err == nil {
			return exe
		}
	}
	return ""
}

// TestLiveReloadInBrowser opens the fixture's page in headless Chromium
// under mega dev and checks what the developer sees: a stylesheet edit
// swaps the CSS without a reload, a Go edit reloads the page on the new
// version, a compile error shows over the page without a reload, and the
// fix reloads it without the error.
func TestLiveReloadInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	exe := findChromium()
	if exe == "" {
		t.Skip("no Chromium found (set MEGA_CHROMIUM)")
	}
	d := startDev(t, Options{})
	d.waitVersion(t, d.port, "v1", firstBuild)

	profile := t.TempDir()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true))
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(portURL(d.port, "/"))); err != nil {
		t.Fatal(err)
	}
	page := func(what, js string) {
		t.Helper()
		testkit.WaitFor(t, 30*time.Second, what, func() bool {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
			return err == nil && ok
		})
	}
	run := func(js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](js)); err != nil {
			t.Fatal(err)
		}
	}
	const connected = `window.__megaDev && window.__megaDev.connected === true`

	page("v1 with the dev script connected", `document.querySelector("h1").textContent === "v1" && `+connected)
	run(`window.marker = 1`) // gone after a reload

	d.edit(t, "static/style.css", func(string) string { return "h1 { color: tomato; }\n" })
	page("the stylesheet swapped in place", `window.marker === 1 && document.querySelector("link").href.includes("_mega=")`)

	d.edit(t, "main.go", func(s string) string { return strings.Replace(s, `"v1"`, `"v2"`, 1) })
	page("the page reloaded on v2", `window.marker === undefined && document.querySelector("h1")?.textContent === "v2" && `+connected)
	run(`window.marker = 2`)

	d.edit(t, "main.go", func(s string) string { return s + "\nvar broken = undefinedThing\n" })
	page("the compile error over the page", `window.marker === 2 && [...document.querySelectorAll("pre")].some((p) => p.textContent.includes("undefined: undefinedThing"))`)

	d.edit(t, "main.go", func(s string) string {
		return strings.Replace(strings.Replace(s, "\nvar broken = undefinedThing\n", "", 1), `"v2"`, `"v3"`, 1)
	})
	page("the page reloaded on v3, without the error", `window.marker === undefined && document.querySelector("h1")?.textContent === "v3" && document.querySelectorAll("pre").length === 0`)

	cancelBrowser()
	cancelAlloc()
}
