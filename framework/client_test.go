package mega_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
	"github.com/megaframework/mega/internal/testkit"
)

func TestClientIsServedByEveryApp(t *testing.T) {
	is := is.New(t)
	srv := megatest.Start(t, mega.NewApp("main"))
	onDisk, err := os.ReadFile("client/client.js")
	is.NoErr(err)

	res, body := testkit.Fetch(t, http.MethodGet, srv.URL+mega.ClientPath, nil)
	is.Equal(res.StatusCode, http.StatusOK)
	is.Equal(res.Header.Get("Content-Type"), "text/javascript; charset=utf-8") // a module script needs a JavaScript type
	is.Equal(res.Header.Get("Cache-Control"), "no-cache")                      // revalidate on every load
	is.Equal(res.Header.Get("X-Content-Type-Options"), "nosniff")
	is.Equal(res.Header.Get("X-TypeScript-Types"), mega.ClientTypesPath)
	is.Equal(body, string(onDisk))
	etag := res.Header.Get("ETag")
	is.True(regexp.MustCompile(`^"[0-9a-f]{24}"$`).MatchString(etag)) // a strong ETag from the content

	// A reload revalidates and gets 304 without a body.
	res, body = testkit.Fetch(t, http.MethodGet, srv.URL+mega.ClientPath, http.Header{"If-None-Match": {etag}})
	is.Equal(res.StatusCode, http.StatusNotModified)
	is.Equal(body, "")
	res, _ = testkit.Fetch(t, http.MethodGet, srv.URL+mega.ClientPath, http.Header{"If-None-Match": {`"stale"`}})
	is.Equal(res.StatusCode, http.StatusOK)

	res, body = testkit.Fetch(t, http.MethodHead, srv.URL+mega.ClientPath, nil)
	is.Equal(res.StatusCode, http.StatusOK)
	is.Equal(res.Header.Get("ETag"), etag)
	is.Equal(body, "")

	res, body = testkit.Fetch(t, http.MethodGet, srv.URL+mega.ClientTypesPath, nil)
	is.Equal(res.StatusCode, http.StatusOK)
	is.Equal(res.Header.Get("Content-Type"), "application/typescript; charset=utf-8")
	is.True(strings.Contains(body, "export declare function connect("))
	is.True(res.Header.Get("ETag") != etag)

	res, _ = testkit.Fetch(t, http.MethodPost, srv.URL+mega.ClientPath, nil)
	is.Equal(res.StatusCode, http.StatusMethodNotAllowed)
}

// TestClientTypesDeclareEveryExport keeps the hand-written client.d.ts in
// step with client.js.
func TestClientTypesDeclareEveryExport(t *testing.T) {
	is := is.New(t)
	js, err := os.ReadFile("client/client.js")
	is.NoErr(err)
	dts, err := os.ReadFile("client/client.d.ts")
	is.NoErr(err)
	exports := regexp.MustCompile(`(?m)^export (?:const|function|class) (\w+)`).FindAllStringSubmatch(string(js), -1)
	is.True(len(exports) > 5)
	for _, e := range exports {
		decl := regexp.MustCompile(`(?m)^export declare (?:const|function|class) ` + e[1] + `\b`)
		if !decl.Match(dts) {
			t.Errorf("client.d.ts does not declare %s, which client.js exports", e[1])
		}
	}
}

// TestClientNodeTests runs the client's unit tests (client/*.test.js) with
// Node's built-in test runner, so go test ./... covers the JavaScript too.
func TestClientNodeTests(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: skipping the JavaScript client's unit tests (run them with: node --test framework/client/)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "client/")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test client/: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}
