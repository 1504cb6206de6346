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
