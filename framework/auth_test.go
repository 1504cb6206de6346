package mega_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// parseTestToken reads the test's tokens, "<user>:<milliseconds from now>",
// standing in for a signed token with an expiry.
func parseTestToken(token string) (mega.User, error) {
	name, ms, ok := strings.Cut(token, ":")
	n, err := strconv.Atoi(ms)
	if !ok || err != nil || name == "" {
		return mega.User{}, mega.ErrUnauthorized
	}
	return mega.User{ID: name, ExpiresAt: time.Now().Add(time.Duration(n) * time.Millisecond)}, nil
}

// startTokens serves the test chat with token auth and token refresh;
// ?private=1 rooms are open only to users named like them ("room-ann").
func startTokens(t *testing.T) *megatest.Server {
	t.Helper()
	app := mega.NewApp("test")
	app.Channel("/ws/chat", newChat(),
		mega.WithAuth(func(r *http.Request) (mega.User, error) { return parseTestToken(mega.BearerToken(r)) }),
		mega.WithTokenRefresh(func(_ context.Context, token string) (mega.User, error) { return parseTestToken(token) }),
		mega.WithAuthorize(func(c *mega.Ctx, channel string) error {
			if room, ok := strings.CutPrefix(channel, "room-"); ok && room != c.User().ID {
				return errors.New("members only")
			}
			return nil
		}),
	)
	return megatest.Start(t, app)
}

func TestTokenExpiryClosesWith4001(t *testing.T) {
	is := is.New(t)
	srv := startTokens(t)
	ann := srv.Dial(t, "/ws/chat?token=ann:300")
	ann.Expect(t, "welcome")
	is.Equal(ann.ExpectClose(t), mega.CloseTokenExpired)
}

func TestTokenAlreadyExpiredIsRefused(t *testing.T) {
	is := is.New(t)
	srv := startTokens(t)
	_, resp, err := srv.DialErr("/ws/chat?token=ann:-1", nil)
	is.True(err != nil)
	is.Equal(resp.StatusCode, http.StatusUnauthorized)
	_, resp, err = srv.DialErr("/ws/chat", nil)
	is.True(err != nil)
	is.Equal(resp.StatusCode, http.StatusUnauthorized)
}

func TestTokenRefreshKeepsTheConnectionOpen(t *testing.T) {
	is := is.New(t)
	srv := startTokens(t)
	const first = 400 * time.Millisecond
	deadline := time.Now().Add(first)
	ann := srv.Dial(t, "/ws/chat?token=ann:"+strconv.Itoa(int(first.Milliseconds())))
	ann.Expect(t, "welcome")

	// Refused refreshes change nothing and keep the connection open.
	ann.PushRef(t, "token.refresh", map[string]string{"token": "bob:60000"}, "r1")
	is.Equal(errorCode(t, ann), mega.CodeForbidden)
	ann.PushRef(t, "token.refresh", map[string]string{"token": "garbage"}, "r2")
	is.Equal(errorCode(t, ann), mega.CodeUnauthorized)
	ann.PushRef(t, "token.refresh", map[string]string{}, "r3")
	is.Equal(errorCode(t, ann), mega.CodeBadRequest)

	ann.PushRef(t, "token.refresh", map[string]string{"token": "ann:60000"}, "r4")
	var out struct{ ExpiresAt time.Time }
	f := ann.Expect(t, "token.refreshed")
	f.Decode(t, &out)
	is.Equal(f.Ref, "r4")
	is.True(time.Until(out.ExpiresAt) > 50*time.Second)

	// Past the first deadline the connection still answers.
	time.Sleep(time.Until(deadline) + 100*time.Millisecond) // the deadline under test, not a hope
	ann.PushRef(t, "whoami", nil, "w")
	is.Equal(ann.Expect(t, "you").Ref, "w")
}

func TestAuthorizeRefusesAPrivateSubChannel(t *testing.T) {
	is := is.New(t)
	srv := startTokens(t)
	ann := srv.Dial(t, "/ws/chat?token=ann:60000&channel=room-ann")
	ann.Expect(t, "welcome")

	// The test channel turns a failed Join into an error; a channel that
	// returns Join's error as is gets 4003 (see TestForbiddenJoinClosesWith4003).
	bob := srv.Dial(t, "/ws/chat?token=bob:60000&channel=room-ann")
	is.Equal(bob.ExpectClose(t), mega.ClosePolicyViolation)
	is.Equal(len(srv.App.List("/ws/chat")), 1) // bob never joined
}

// joiner returns Join's error from OnConnect unchanged.
type joiner struct{}

func (joiner) OnConnect(ctx *mega.Ctx) error {
	return ctx.Presence.Join(mega.Entry{Channels: []string{ctx.Request().URL.Query().Get("room")}})
}

func (joiner) OnMessage(*mega.Ctx, mega.Message) error { return mega.ErrUnknownType }

func TestForbiddenJoinClosesWith4003(t *testing.T) {
	is := is.New(t)
	app := mega.NewApp("test")
	app.Channel("/ws/j", joiner{},
		mega.WithAuth(auth),
		mega.WithAuthorize(func(_ *mega.Ctx, channel string) error {
			if channel == "secret" {
				return mega.ErrForbidden
			}
			return nil
		}))
	srv := megatest.Start(t, app)
	ok := srv.Dial(t, "/ws/j?name=ann&room=open")
	no := srv.Dial(t, "/ws/j?name=bob&room=secret")
	is.Equal(no.ExpectClose(t), mega.CloseForbidden)
	ok.PushRef(t, "ping", nil, "p")
	is.Equal(ok.Expect(t, "error").Ref, "p") // still open
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		name, header, query, want string
	}{
		{"header", "Bearer abc", "", "abc"},
		{"scheme is case-insensitive", "bearer abc", "", "abc"},
		{"header wins over query", "Bearer abc", "token=q", "abc"},
		{"query", "", "token=q", "q"},
		{"other scheme falls back to query", "Basic dXNlcg==", "token=q", "q"},
		{"none", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			r := httptest.NewRequest(http.MethodGet, "/ws?"+tc.query, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			is.Equal(mega.BearerToken(r), tc.want)
		})
	}
}

// errorCode waits for the next error frame and returns its code.
func errorCode(t *testing.T, c *megatest.Client) string {
	t.Helper()
	var e struct{ Code string }
	c.Expect(t, "error").Decode(t, &e)
	return e.Code
}

func TestUseWrapsTheWholeApp(t *testing.T) {
	is := is.New(t)
	app := mega.NewApp("test")
	var order []string
	tag := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				w.Header().Add("X-Seen", name)
				next.ServeHTTP(w, r)
			})
		}
	}
	app.Router().Get("/hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hi")) })
	app.Use(tag("outer"), tag("inner"))
	for _, path := range []string{"/hello", "/healthz", "/_mega/client.js", "/nowhere"} {
		order = nil
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		is.Equal(order, []string{"outer", "inner"}) // every path, in the order given
		is.Equal(rec.Header().Values("X-Seen"), []string{"outer", "inner"})
	}
}
