package devmode_test

import (
	"bufio"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/matryer/is"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/megaframework/mega/framework/internal/devmode"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/internal/devproto"
	"github.com/megaframework/mega/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const page = "<html><body><h1>hi</h1></BODY></html>\n"

// pages is an app's handler: an HTML page, a JSON endpoint, an HTML page
// that is not 200, and a plain-text stream that flushes each line and
// waits for the test before the next.
func pages(step <-chan struct{}) http.Handler {
	r := chi.NewRouter()
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		_, _ = io.WriteString(w, page)
	})
	r.Get("/sniffed", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, page) // no Content-Type: sniffed as text/html
	})
	r.Get("/api", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"html":"</body>"}`)
	})
	r.Get("/missing", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, page)
	})
	r.Get("/br", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Encoding", "br")
		_, _ = io.WriteString(w, "not really brotli </body>")
	})
	r.Get("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		for i := range 3 {
			_, _ = io.WriteString(w, "line "+strconv.Itoa(i)+"\n")
			_ = http.NewResponseController(w).Flush()
			select {
			case <-step:
			case <-r.Context().Done():
				return
			}
		}
	})
	return r
}

// fetch GETs url with an Accept header (none when empty) and returns the
// response and its body.
func fetch(t *testing.T, url, accept string) (*http.Response, string) {
	t.Helper()
	var h http.Header
	if accept != "" {
		h = http.Header{"Accept": {accept}}
	}
	return testkit.Fetch(t, http.MethodGet, url, h)
}

// serve runs dev's middleware around pages on an httptest server, closed
// with the test, and dev with it.
func serve(t *testing.T, dev *devmode.Dev, step <-chan struct{}) *httptest.Server {
	srv := httptest.NewServer(dev.Middleware(pages(step)))
	t.Cleanup(func() {
		dev.Close()
		srv.Close()
	})
	return srv
}

const html = "text/html,application/xhtml+xml"

func TestScriptInjectedIntoHTMLOnly(t *testing.T) {
	srv := serve(t, devmode.New(devmode.Options{}), nil)
	tag := `<script src="/_mega/dev.js"></script>`
	cases := []struct {
		name, path, accept, want string
	}{
		{"a page", "/", html, "<html><body><h1>hi</h1>" + tag + "</BODY></html>\n"},
		{"a sniffed page", "/sniffed", html, "<html><body><h1>hi</h1>" + tag + "</BODY></html>\n"},
		{"JSON", "/api", html, `{"html":"</body>"}`},
		{"not a browser navigation", "/", "application/json", page},
		{"not 200", "/missing", html, page},
		{"compressed", "/br", html, "not really brotli </body>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			res, body := fetch(t, srv.URL+tc.path, tc.accept)
			is.Equal(body, tc.want)
			if cl := res.Header.Get("Content-Length"); cl != "" {
				is.Equal(cl, strconv.Itoa(len(body)))
			}
		})
	}
}

func TestScriptUnderAMount(t *testing.T) {
	is := is.New(t)
	dev := devmode.New(devmode.Options{})
	defer dev.Close()
	root := chi.NewRouter()
	root.Mount("/blog", dev.Middleware(pages(nil)))
	srv := httptest.NewServer(root)
	defer srv.Close()

	_, body := fetch(t, srv.URL+"/blog/", html)
	is.True(strings.Contains(body, `<script src="/blog/_mega/dev.js"></script></BODY>`))
	res, _ := fetch(t, srv.URL+"/blog/_mega/dev.js", "")
	is.Equal(res.StatusCode, http.StatusOK)
	res, _ = fetch(t, srv.URL+"/_mega/dev.js", "")
	is.Equal(res.StatusCode, http.StatusNotFound) // only under the mount
}

func TestStreamsAreFlushedThroughTheInjector(t *testing.T) {
	is := is.New(t)
	step := make(chan struct{})
	srv := serve(t, devmode.New(devmode.Options{}), step)
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/stream", nil)
	is.NoErr(err)
	req.Header.Set("Accept", html) // a navigation: the injector wraps it
	client := &http.Client{Timeout: 5 * time.Second}
	res, err := client.Do(req)
	is.NoErr(err)
	defer res.Body.Close()
	lines := bufio.NewReader(res.Body)
	for i := range 3 {
		// The handler waits for step after each line: the line arrives
		// only if the injector passed its flush through.
		line, err := lines.ReadString('\n')
		is.NoErr(err)
		is.Equal(line, "line "+strconv.Itoa(i)+"\n")
		step <- struct{}{}
	}
}

func TestScriptSpeaksTheProtocol(t *testing.T) {
	is := is.New(t)
	srv := serve(t, devmode.New(devmode.Options{}), nil)
	res, body := fetch(t, srv.URL+devproto.ScriptPath, "")
	is.Equal(res.StatusCode, http.StatusOK)
	is.True(strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript"))
	is.Equal(res.Header.Get("Cache-Control"), "no-store")
	// The script is JavaScript: it cannot use the Go constants, so it is
	// checked against them.
	for _, want := range []string{`"` + devproto.EventsPath + `"`, `"/readyz"`, `"hello"`,
		`m.type === "` + devproto.TypeReload + `"`, `m.type === "` + devproto.TypeBuild + `"`,
		"m.files", "m.ok", "m.output", "h.id", `\/_mega\/dev\.js`} {
		is.True(strings.Contains(body, want)) // the script uses want
	}
}

// stream is a browser's view of the event stream.
type stream struct {
	res   *http.Response
	lines *bufio.Scanner
}

func openStream(t *testing.T, url string) *stream {
	t.Helper()
	res, err := http.Get(url + devproto.EventsPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %s, %s", devproto.EventsPath, res.Status, res.Header.Get("Content-Type"))
	}
	return &stream{res: res, lines: bufio.NewScanner(res.Body)}
}

// next returns the rest of the next line that starts with prefix.
func (s *stream) next(prefix string) (string, bool) {
	for s.lines.Scan() {
		if rest, ok := strings.CutPrefix(s.lines.Text(), prefix); ok {
			return rest, true
		}
	}
	return "", false
}

func TestEventsForwardNotices(t *testing.T) {
	is := is.New(t)
	ns := natstest.StartServer(t)
	dev := devmode.New(devmode.Options{NATSURL: natstest.URL(ns), Subject: "mega.dev.test"})
	srv := serve(t, dev, nil)
	es := openStream(t, srv.URL)
	hello, ok := es.next("data: ")
	is.True(ok)
	is.Equal(hello, `{"id":"`+dev.ID()+`"}`)

	nc, err := nats.Connect(natstest.URL(ns))
	is.NoErr(err)
	defer nc.Close()
	got := make(chan string, 1)
	go func() {
		line, _ := es.next("data: ")
		got <- line
	}()
	// The stream subscribed before it said hello, but a subscription
	// reaches the server asynchronously: publish until one arrives. Each
	// round publishes what the stream must drop first (not JSON, not a
	// notice, another subject), so the first line through is the notice.
	var line string
	natstest.WaitFor(t, 5*time.Second, "a notice on the stream", func() bool {
		for _, bad := range []string{`not json`, `{"files":["x"]}`, `{"type":"restart"}`, `{"type":"build"}`} {
			is.NoErr(nc.Publish("mega.dev.test", []byte(bad)))
		}
		is.NoErr(nc.Publish("mega.dev.other", []byte(`{"type":"build","ok":true}`)))
		is.NoErr(nc.Publish("mega.dev.test", []byte("{\n\"type\": \"reload\", \"files\": [\"a.css\"]}")))
		is.NoErr(nc.Flush())
		select {
		case line = <-got:
			return true
		case <-time.After(20 * time.Millisecond):
			return false
		}
	})
	is.Equal(line, `{"type":"reload","files":["a.css"]}`) // compacted, as published
}

func TestEventsPing(t *testing.T) {
	is := is.New(t)
	srv := serve(t, devmode.New(devmode.Options{PingInterval: 10 * time.Millisecond}), nil)
	es := openStream(t, srv.URL)
	_, ok := es.next(": ping")
	is.True(ok)
}

func TestCloseEndsStreams(t *testing.T) {
	is := is.New(t)
	ns := natstest.StartServer(t)
	dev := devmode.New(devmode.Options{NATSURL: natstest.URL(ns)})
	srv := serve(t, dev, nil)
	es := openStream(t, srv.URL)
	_, ok := es.next("data: ")
	is.True(ok)
	ended := make(chan struct{})
	go func() {
		for es.lines.Scan() {
		}
		close(ended)
	}()
	dev.Close()
	dev.Close() // twice is fine
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the event stream outlived Close")
	}
	res, _ := fetch(t, srv.URL+devproto.EventsPath, "")
	is.Equal(res.StatusCode, http.StatusServiceUnavailable) // no new stream once closed
	// The server's shutdown does not wait for a stream.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	is.NoErr(srv.Config.Shutdown(ctx))
}

func TestStaticFromDiskInDevModeOnly(t *testing.T) {
	dir := t.TempDir()
	is.New(t).NoErr(os.MkdirAll(filepath.Join(dir, "static"), 0o755))
	is.New(t).NoErr(os.WriteFile(filepath.Join(dir, "static", "hello.txt"), []byte("from disk\n"), 0o644))
	embedded := fstest.MapFS{"static/hello.txt": {Data: []byte("from the binary\n")}}
	caller := filepath.Join(dir, "app.go") // the app's source file calling StaticFS
	cases := []struct {
		name, env, caller, want string
		listed                  bool
	}{
		// The list of directories is the process's: the case that adds
		// one comes last.
		{"outside dev mode", "", caller, "from the binary\n", false},
		{"in dev mode, built with -trimpath", "1", "example.com/app/app.go", "from the binary\n", false},
		{"in dev mode, the directory elsewhere", "1", filepath.Join(dir, "sub", "app.go"), "from the binary\n", false},
		{"in dev mode", "1", caller, "from disk\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			t.Setenv(devproto.EnvDev, tc.env)
			files, err := devmode.StaticFS(embedded, "static", tc.caller)
			is.NoErr(err)
			data, err := fs.ReadFile(files, "hello.txt")
			is.NoErr(err)
			is.Equal(string(data), tc.want)

			srv := serve(t, devmode.New(devmode.Options{}), nil)
			res, info := fetch(t, srv.URL+devproto.InfoPath, "")
			is.Equal(res.Header.Get("Content-Type"), "application/json")
			is.Equal(strings.Contains(info, strconv.Quote(filepath.Join(dir, "static"))), tc.listed)
		})
	}
	t.Run("an invalid directory", func(t *testing.T) {
		_, err := devmode.StaticFS(embedded, "../static", caller)
		is.New(t).True(err != nil)
	})
}

func TestNoStore(t *testing.T) {
	is := is.New(t)
	srv := httptest.NewServer(devmode.NoStore(http.FileServerFS(fstest.MapFS{"a.css": {Data: []byte("p{}")}})))
	defer srv.Close()
	res, body := fetch(t, srv.URL+"/a.css", "")
	is.Equal(body, "p{}")
	is.Equal(res.Header.Get("Cache-Control"), "no-store")
}
