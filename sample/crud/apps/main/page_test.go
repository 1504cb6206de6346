package mainapp_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestPage(t *testing.T) {
	srv := startApp(t)
	cases := []struct {
		path, contentType string
		contains          []string
	}{
		{"/", "text/html", []string{
			`data-testid="status"`, `data-testid="rooms"`, `data-testid="online"`,
			`data-testid="messages"`, `data-testid="chat-input"`, `data-testid="chat-send"`,
			`data-testid="notice"`,
		}},
		{"/static/app.js", "text/javascript", []string{"/ws/chat", "/api/rooms", "/_mega/client.js",
			"rooms.created", "rooms.updated", "rooms.deleted"}},
		{"/_mega/client.js", "text/javascript", []string{"export function connect"}},
		{"/static/style.css", "text/css", nil},
		{"/healthz", "text/plain", []string{"ok"}},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			is := is.New(t)
			res, err := http.Get(srv.URL + tc.path)
			is.NoErr(err)
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			is.NoErr(err)
			is.Equal(res.StatusCode, http.StatusOK)
			is.True(strings.HasPrefix(res.Header.Get("Content-Type"), tc.contentType))
			for _, s := range tc.contains {
				is.True(strings.Contains(string(body), s)) // the page has s
			}
		})
	}
}

// TestUnknownRoutes: under /api every answer is JSON in the error shape of
// the REST API, an unknown path or method included; elsewhere an unknown
// path is a plain 404.
func TestUnknownRoutes(t *testing.T) {
	srv := startApp(t)
	cases := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"unknown API path", http.MethodGet, "/api/nope", http.StatusNotFound, "not_found"},
		{"under a resource", http.MethodGet, "/api/rooms/1/nope", http.StatusNotFound, "not_found"},
		{"wrong method", http.MethodPatch, "/api/rooms", http.StatusMethodNotAllowed, "method_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			status, e := apiCall(t, tc.method, srv.URL+tc.path, "", nil) // fails unless the body is a JSON error
			is.Equal(status, tc.status)
			is.Equal(e.Code, tc.code)
		})
	}
	t.Run("a 405 lists the allowed methods", func(t *testing.T) {
		is := is.New(t)
		req, err := http.NewRequest(http.MethodPatch, srv.URL+"/api/rooms/1", nil)
		is.NoErr(err)
		res, err := http.DefaultClient.Do(req)
		is.NoErr(err)
		defer res.Body.Close()
		is.Equal(res.StatusCode, http.StatusMethodNotAllowed)
		is.Equal(res.Header.Values("Allow"), []string{"GET", "PUT", "DELETE"})
	})
	t.Run("unknown page", func(t *testing.T) {
		is := is.New(t)
		res, err := http.Get(srv.URL + "/nope")
		is.NoErr(err)
		defer res.Body.Close()
		is.Equal(res.StatusCode, http.StatusNotFound)
		is.True(strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain"))
	})
}
