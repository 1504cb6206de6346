package mega_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/matryer/is"
	"github.com/nats-io/nats.go"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/internal/testkit"
)

// pageApp is an app with an HTML page, a JSON endpoint and static files.
func pageApp() *mega.App {
	app := mega.NewApp("main")
	app.Router().Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		page := "<html><body><h1>hi</h1></BODY></html>\n\n\n\n"
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		_, _ = io.WriteString(w, page)
	})
	app.Router().Get("/api", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	embedded := fstest.MapFS{"testdata/devstatic/hello.txt": {Data: []byte("from the binary\n")}}
	app.Router().Handle("/static/*", http.StripPrefix("/static/", mega.Static(embedded, "testdata/devstatic")))
	return app
}

// get fetches url with an Accept header (none when accept is empty).
func get(t *testing.T, url string, accept string) (*http.Response, string) {
	t.Helper()
	h := http.Header{}
	if accept != "" {
		h.Set("Accept", accept)
	}
	return testkit.Fetch(t, http.MethodGet, url, h)
}

func TestDevModeIsInertByDefault(t *testing.T) {
	is := is.New(t)
	t.Setenv("MEGA_DEV", "")
	is.True(!mega.DevMode())
	app := pageApp()
	srv := httptest.NewServer(app)
	defer srv.Close()
	defer func() { _ = app.Shutdown(context.Background()) }()

	_, body := get(t, srv.URL+"/", "text/html")
	is.Equal(body, "<html><body><h1>hi</h1></BODY></html>\n\n\n\n") // page untouched
	res, _ := get(t, srv.URL+"/_mega/dev.js", "")
	is.Equal(res.StatusCode, http.StatusNotFound) // no dev paths
	res, body = get(t, srv.URL+"/static/hello.txt", "")
	is.Equal(body, "from the binary\n") // the embedded file, not the disk
	is.Equal(res.Header.Get("Cache-Control"), "")
}

func TestDevMode(t *testing.T) {
	ns := natstest.StartServer(t)
	t.Setenv("MEGA_DEV", "1")
	t.Setenv("MEGA_DEV_NATS", natstest.URL(ns))
	t.Setenv("MEGA_DEV_SUBJECT", "mega.dev.test")
	app := pageApp()
	srv := httptest.NewServer(app)
	defer srv.Close()

	t.Run("ScriptInjectedIntoPages", func(t *testing.T) {
		is := is.New(t)
		res, body := get(t, srv.URL+"/", "text/html,application/xhtml+xml")
		is.Equal(body, `<html><body><h1>hi</h1><script src="/_mega/dev.js"></script></BODY></html>`+"\n\n\n\n")
		is.Equal(res.Header.Get("Content-Length"), strconv.Itoa(len(body)))
	})
	t.Run("OtherResponsesUntouched", func(t *testing.T) {
		is := is.New(t)
		_, body := get(t, srv.URL+"/api", "text/html")
		is.Equal(body, `{"ok":true}`)
		_, body = get(t, srv.URL+"/", "application/json") // not a browser navigation
		is.True(!strings.Contains(body, "<script"))
	})
	t.Run("Script", func(t *testing.T) {
		is := is.New(t)
		res, body := get(t, srv.URL+"/_mega/dev.js", "")
		is.Equal(res.StatusCode, http.StatusOK)
		is.True(strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript"))
		is.True(strings.Contains(body, "/_mega/dev/events"))
	})
	t.Run("StaticFromDisk", func(t *testing.T) {
		is := is.New(t)
		res, body := get(t, srv.URL+"/static/hello.txt", "")
		is.Equal(body, "from disk\n")
		is.Equal(res.Header.Get("Cache-Control"), "no-store")
		_, info := get(t, srv.URL+"/_mega/dev/info", "")
		abs, err := filepath.Abs(filepath.Join("testdata", "devstatic"))
		is.NoErr(err)
		is.True(strings.Contains(info, strconv.Quote(abs)))
	})
	t.Run("EventsForwardNotices", func(t *testing.T) {
		is := is.New(t)
		res, err := http.Get(srv.URL + "/_mega/dev/events")
		is.NoErr(err)
		defer res.Body.Close()
		is.Equal(res.Header.Get("Content-Type"), "text/event-stream")
		lines := bufio.NewScanner(res.Body)
		next := func(prefix string) string {
			t.Helper()
			for lines.Scan() {
				if strings.HasPrefix(lines.Text(), prefix) {
					return strings.TrimPrefix(lines.Text(), prefix)
				}
			}
			t.Fatalf("stream ended before a %q line: %v", prefix, lines.Err())
			return ""
		}
		is.True(strings.Contains(next("data: "), `"id"`)) // hello

		nc, err := nats.Connect(natstest.URL(ns))
		is.NoErr(err)
		defer nc.Close()
		// The stream subscribes before it says hello; publish until the
		// notice arrives (a subscription is asynchronous on the server).
		got := make(chan string, 1)
		go func() { got <- next("data: ") }()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(5 * time.Second)
	wait:
		for {
			is.NoErr(nc.Publish("mega.dev.test", []byte("{\n\"type\": \"reload\", \"files\": [\"a.css\"]}")))
			select {
			case line := <-got:
				is.Equal(line, `{"type":"reload","files":["a.css"]}`)
				break wait
			case <-tick.C:
			case <-deadline:
				t.Fatal("no notice forwarded")
			}
		}
	})
	t.Run("ShutdownEndsStreams", func(t *testing.T) {
		is := is.New(t)
		res, err := http.Get(srv.URL + "/_mega/dev/events")
		is.NoErr(err)
		defer res.Body.Close()
		ended := make(chan error, 1)
		go func() { _, err := io.Copy(io.Discard, res.Body); ended <- err }()
		is.NoErr(app.Shutdown(context.Background()))
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("the event stream outlived Shutdown")
		}
	})
}
