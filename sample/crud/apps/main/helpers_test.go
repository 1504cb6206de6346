package mainapp_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/config"
	"github.com/megaframework/mega/framework/megatest"
	"github.com/rs/zerolog"

	mainapp "crud/apps/main"
)

// testConfig returns a mega.yaml for tests: the app's database is a fresh
// SQLite file in a temp dir.
func testConfig(t testing.TB) string {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "test.db") + "?_pragma=busy_timeout(5000)"
	return fmt.Sprintf("apps: [main]\nservices:\n  databases:\n    main: {driver: sqlite, dsn: %q}\n", dsn)
}

// newTestApp builds the app the way the boot stage does, on a fresh
// database.
func newTestApp(t testing.TB) *mega.App {
	t.Helper()
	cfg, err := config.Parse([]byte(testConfig(t)), nil)
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	env := mega.NewEnv("main", cfg, zerolog.Nop())
	t.Cleanup(func() {
		if err := env.Close(); err != nil {
			t.Errorf("close env: %v", err)
		}
	})
	app, err := mainapp.New(env)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return app
}

// startApp serves a new test app on a loopback server. It is shut down
// when the test ends.
func startApp(t *testing.T) *megatest.Server {
	t.Helper()
	return megatest.Start(t, newTestApp(t))
}

// apiError is the error body of the REST API.
type apiError struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

// apiCall sends a request with body (raw JSON; "" sends none) and returns
// the status. A successful answer is decoded into out when out is not nil;
// an error answer must be a JSON error body, which is returned.
func apiCall(t *testing.T, method, url, body string, out any) (int, apiError) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	if len(data) > 0 && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s %s: Content-Type %q, want JSON", method, url, res.Header.Get("Content-Type"))
	}
	if res.StatusCode >= 400 {
		var e struct {
			Error apiError `json:"error"`
		}
		if err := json.Unmarshal(data, &e); err != nil || e.Error.Code == "" || e.Error.Fields == nil {
			t.Fatalf("%s %s: %d with a body that is not an error object: %s", method, url, res.StatusCode, data)
		}
		return res.StatusCode, e.Error
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, data, err)
		}
	}
	return res.StatusCode, apiError{}
}

// testTime parses an RFC 3339 time for comparisons.
func testTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("testTime(%q): %v", s, err)
	}
	return v
}
