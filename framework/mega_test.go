package mega_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matryer/is"
	"go.uber.org/goleak"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
	"github.com/megaframework/mega/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// chat is a small channel exercising the public API the way apps use it.
type chat struct{ r *mega.Router }

type sendIn struct {
	Text    string `json:"text"`
	Channel string `json:"channel"`
	Except  []string
}

func newChat() *chat {
	c := &chat{r: mega.NewRouter()}
	mega.Handle(c.r, "send", func(ctx *mega.Ctx, in sendIn) error {
		if in.Text == "" {
			return mega.BadRequest("text is required")
		}
		return ctx.Presence.Broadcast(mega.Broadcast{Channel: in.Channel, Type: "said", Payload: in, Except: in.Except})
	})
	mega.Handle(c.r, "whisper", func(ctx *mega.Ctx, in struct{ To, Text string }) error {
		return ctx.Presence.DirectToUser(in.To, mega.Push{Type: "whispered", Payload: in.Text})
	})
	mega.HandleMessage(c.r, "roster", func(ctx *mega.Ctx, msg mega.Message) error {
		return ctx.Reply(msg, "roster", ctx.Presence.List())
	})
	mega.Handle(c.r, "mood", func(ctx *mega.Ctx, in struct{ Mood string }) error {
		ctx.Set("mood", in.Mood)
		return ctx.Presence.Update(mega.Meta{"mood": in.Mood})
	})
	mega.HandleMessage(c.r, "whoami", func(ctx *mega.Ctx, msg mega.Message) error {
		return ctx.Reply(msg, "you", map[string]any{"mood": ctx.Get("mood"), "users": ctx.Presence.Users()})
	})
	mega.HandleMessage(c.r, "leave", func(ctx *mega.Ctx, msg mega.Message) error {
		return ctx.Presence.Leave()
	})
	mega.HandleMessage(c.r, "boom", func(*mega.Ctx, mega.Message) error { panic("boom") })
	mega.HandleMessage(c.r, "fail", func(*mega.Ctx, mega.Message) error { return errors.New("secret detail") })
	return c
}

func (c *chat) OnConnect(ctx *mega.Ctx) error {
	q := ctx.Request().URL.Query()
	if q.Get("reject") != "" {
		return &mega.CloseError{Code: 4403, Reason: "not today"}
	}
	var channels []string
	if ch := q.Get("channel"); ch != "" {
		channels = []string{ch}
	}
	for i := range len(q.Get("manychannels")) {
		channels = append(channels, fmt.Sprint("c", i))
	}
	meta := mega.Meta{"room": q.Get("channel")}
	if big := q.Get("bigmeta"); big != "" {
		meta["blob"] = strings.Repeat("x", len(big)*1024)
	}
	entry := mega.Entry{UserID: q.Get("as"), SessionID: q.Get("session"), Channels: channels, Metadata: meta}
	if err := ctx.Presence.Join(entry); err != nil {
		return mega.NewError("join_failed", err.Error())
	}
	self, _ := ctx.Presence.Self()
	return ctx.Send("welcome", map[string]any{"sessionId": self.SessionID, "userId": self.UserID})
}

func (c *chat) OnMessage(ctx *mega.Ctx, msg mega.Message) error { return c.r.Dispatch(ctx, msg) }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// auth takes the user from ?name= and refuses some names to test refusals.
func auth(r *http.Request) (mega.User, error) {
	name := r.URL.Query().Get("name")
	switch {
	case name == "intruder":
		return mega.User{}, mega.ErrForbidden
	case name == "":
		return mega.User{}, mega.ErrUnauthorized
	case !nameRE.MatchString(name):
		return mega.User{}, mega.Reject(http.StatusBadRequest, "name must be 1-32 of A-Z a-z 0-9 _ -")
	}
	return mega.User{ID: name}, nil
}

func start(t *testing.T, limits *mega.Limits) *megatest.Server {
	t.Helper()
	var opts []mega.Option
	if limits != nil {
		opts = append(opts, mega.WithLimits(*limits))
	}
	app := mega.NewApp("test", opts...)
	app.Channel("/ws/chat", newChat(), mega.WithAuth(auth), mega.WithPresenceEvents())
	return megatest.Start(t, app)
}

type welcome struct{ SessionID, UserID string }

func dial(t *testing.T, srv *megatest.Server, query string) (*megatest.Client, welcome) {
	t.Helper()
	c := srv.Dial(t, "/ws/chat?"+query)
	var w welcome
	c.Expect(t, "welcome").Decode(t, &w)
	return c, w
}

func TestBroadcastExactlyOnce(t *testing.T) {
	is := is.New(t)
	srv := start(t, nil)
	var clients []*megatest.Client
	for _, name := range []string{"ann", "bob", "cid", "dee"} {
		c, _ := dial(t, srv, "name="+name)
		clients = append(clients, c)
	}
	clients[0].Push(t, "send", map[string]string{"text": "hello"})
	clients[0].Push(t, "send", map[string]string{"text": "second"})
	for _, c := range clients {
		var got sendIn
		c.Expect(t, "said").Decode(t, &got)
		is.Equal(got.Text, "hello")
		c.Expect(t, "said").Decode(t, &got)
		is.Equal(got.Text, "second") // in order, and the first was delivered once
		is.Equal(c.Count("said"), 0)
	}
}

func TestSubChannelsAndExcept(t *testing.T) {
	is := is.New(t)
	srv := start(t, nil)
	ann, _ := dial(t, srv, "name=ann&channel=lobby")
	bob, wb := dial(t, srv, "name=bob&channel=lobby")
	cid, _ := dial(t, srv, "name=cid&channel=kitchen")

	ann.Push(t, "send", map[string]any{"text": "lobby only", "channel": "lobby", "Except": []string{wb.SessionID}})
	ann.Push(t, "send", map[string]any{"text": "kitchen only", "channel": "kitchen"})
	ann.Push(t, "send", map[string]any{"text": "everyone"})

	var got sendIn
	ann.Expect(t, "said").Decode(t, &got)
	is.Equal(got.Text, "lobby only")
	ann.Expect(t, "said").Decode(t, &got)
	is.Equal(got.Text, "everyone")
	bob.Expect(t, "said").Decode(t, &got)
	is.Equal(got.Text, "everyone") // excluded from the first, not in the kitchen
	cid.Expect(t, "said").Decode(t, &got)
	is.Equal(got.Text, "kitchen only")
	cid.Expect(t, "said").Decode(t, &got)
	is.Equal(got.Text, "everyone")
}

func TestDirectToUserWithTwoSessions(t *testing.T) {
	is := is.New(t)
	srv := start(t, nil)
	tab1, w1 := dial(t, srv, "name=ann")
	tab2, w2 := dial(t, srv, "name=ann")
	bob, _ := dial(t, srv, "name=bob")
	is.True(w1.SessionID != w2.SessionID)
	is.True(len(w1.SessionID) >= 22) // 128 random bits

	bob.Push(t, "whisper", map[string]string{"To": "ann", "Text": "psst"})
	is.Equal(string(tab1.Expect(t, "whispered").Payload), `"psst"`)
	is.Equal(string(tab2.Expect(t, "whispered").Payload), `"psst"`)
	// bob's own roster reply proves his whisper was processed before we look.
	bob.PushRef(t, "roster", nil, "r1")
	bob.Expect(t, "roster")
	is.Equal(bob.Count("whispered"), 0)
}

func TestDuplicateSessionRefused(t *testing.T) {
	is := is.New(t)
	srv := start(t, nil)
	dial(t, srv, "name=ann&session=fixed-1")
	c := srv.Dial(t, "/ws/chat?name=eve&session=fixed-1")
	is.Equal(c.ExpectClose(t), mega.ClosePolicyViolation)
}

func TestMembersRemovedOnDisconnect(t *testing.T) {
	is := is.New(t)
	srv := start(t, nil)
	ann, _ := dial(t, srv, "name=ann")
	bob, wb := dial(t, srv, "name=bob")

	var joined mega.Member
	joined = ann.ExpectPresence(t, "join")
	is.Equal(joined.SessionID, wb.SessionID)
	is.Equal(joined.UserID, "bob")
	is.Equal(bob.PresenceChanges("join"), 0) // no join event for yourself

	bob.Close()
	var left mega.Member
	left = ann.ExpectPresence(t, "leave")
	is.Equal(left.SessionID, wb.SessionID)

	ann.PushRef(t, "roster", nil, "r")
	var list []mega.Member
	f := ann.Expect(t, "roster")
	f.Decode(t, &list)
	is.Equal(f.Ref, "r")
	is.Equal(len(list), 1)
	is.Equal(list[0].UserID, "ann")
}

func TestBadFrames(t *testing.T) {
	is := is.New(t)
	srv := start(t, &mega.Limits{ReadLimit: 1024})
	ann, _ := dial(t, srv, "name=ann")
	bob, _ := dial(t, srv, "name=bob")

	cases := []struct {
		name, frame, code, ref string
	}{
		{"malformed JSON", `{"type":`, "bad_request", ""},
		{"not an object", `[1,2]`, "bad_request", ""},
		{"no type", `{"payload":{},"ref":"a"}`, "bad_request", "a"},
		{"unknown type", `{"type":"nope","ref":"b"}`, "unknown_type", "b"},
		{"payload of the wrong shape", `{"type":"send","payload":{"text":5},"ref":"c"}`, "bad_request", "c"},
		{"handler validation", `{"type":"send","payload":{"text":""},"ref":"d"}`, "bad_request", "d"},
		{"handler panic", `{"type":"boom","ref":"e"}`, "internal", "e"},
		{"handler error stays private", `{"type":"fail","ref":"f"}`, "internal", "f"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			ann.PushRaw(t, []byte(tc.frame))
			var e struct{ Code, Message, Ref string }
			f := ann.Expect(t, "error")
			f.Decode(t, &e)
			is.Equal(e.Code, tc.code)
			is.Equal(e.Ref, tc.ref)
			is.Equal(f.Ref, tc.ref)
			is.True(e.Message != "")
			is.True(!strings.Contains(e.Message, "secret"))
		})
	}
	// Still connected and served after all of that.
	ann.Push(t, "send", map[string]string{"text": "still here"})
	ann.Expect(t, "said")

	// A frame over the read limit closes only that connection, with 1009.
	ann.PushRaw(t, []byte(`{"type":"send","payload":{"text":"`+strings.Repeat("x", 2000)+`"}}`))
	is.Equal(ann.ExpectClose(t), mega.CloseTooBig)
	bob.Push(t, "send", map[string]string{"text": "others fine"})
	bob.Expect(t, "said")
}

func TestSlowClientDoesNotDelayOthers(t *testing.T) {
	is := is.New(t)
	srv := start(t, &mega.Limits{SendQueue: 256 << 10, MessagesPerSecond: 1e6, Burst: 1e6})
	// fast joins first, so the only presence.leave it can see is the stalled one.
	fast, _ := dial(t, srv, "name=fast")

	// A raw client that joins and then never reads again.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stalled, _, err := websocket.Dial(ctx, srv.WebSocketURL("/ws/chat?name=stalled"), nil)
	is.NoErr(err)
	defer stalled.CloseNow()

	// Each broadcast is 16 KiB. The stalled client's socket buffers (several
	// MiB on loopback) and then its 256 KiB queue fill; the server must cut it
	// (fast sees its presence.leave) while fast keeps receiving every frame.
	payload := strings.Repeat("y", 16<<10)
	cut := false
	for i := 0; i < 4000 && !cut; i++ { // bounded: 64 MiB at most
		fast.Push(t, "send", map[string]string{"text": payload})
		if _, err := fast.ExpectWithin("said", megatest.Timeout); err != nil {
			t.Fatalf("broadcast %d did not reach the fast client: %v", i, err)
		}
		cut = fast.PresenceChanges("leave") > 0
	}
	is.True(cut) // the stalled client was disconnected
	// The stalled connection was closed by the server with 4008; reading it
	// now drains what its socket holds and then ends with that code.
	var code websocket.StatusCode = -1
	for {
		_, _, err := stalled.Read(ctx)
		if err != nil {
			code = websocket.CloseStatus(err)
			break
		}
	}
	is.Equal(int(code), mega.CloseSlowClient)
}

func TestOriginAndAuthRefusals(t *testing.T) {
	srv := start(t, nil)
	cases := []struct {
		name   string
		query  string
		origin string
		status int
	}{
		{"foreign origin", "name=ann", "https://evil.example", http.StatusForbidden},
		{"no identity", "", "", http.StatusUnauthorized},
		{"forbidden user", "name=intruder", "", http.StatusForbidden},
		{"malformed name", "name=a+b", "", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			_, resp, err := srv.DialErr("/ws/chat?"+tc.query, &megatest.DialOptions{Header: h})
			is.True(err != nil)
			is.True(resp != nil)
			is.Equal(resp.StatusCode, tc.status)
		})
	}
}

func TestAllowedOrigins(t *testing.T) {
	is := is.New(t)
	srv := start(t, &mega.Limits{AllowedOrigins: []string{"*.example.com"}})
	c, _, err := srv.DialErr("/ws/chat?name=ann", &megatest.DialOptions{Header: http.Header{"Origin": {"https://app.example.com"}}})
	is.NoErr(err)
	c.Expect(t, "welcome")
	c.Close()
}

func TestOnConnectRejection(t *testing.T) {
	is := is.New(t)
	srv := start(t, nil)
	c := srv.Dial(t, "/ws/chat?name=ann&reject=1")
	is.Equal(c.ExpectClose(t), 4403)
}

func TestRateLimit(t *testing.T) {
	is := is.New(t)
	srv := start(t, &mega.Limits{MessagesPerSecond: 1, Burst: 5})
	c, _ := dial(t, srv, "name=ann")
	// Burst + 1: the sixth message is over the limit. The server can only
	// close after reading it, so every push is written before the close
	// (pushing more would race the close and fail the write).
	for i := 0; i < 6; i++ {
		c.PushRaw(t, []byte(`{"type":"roster"}`))
	}
	is.Equal(c.ExpectClose(t), mega.CloseRateLimited)
	is.Equal(c.Count("roster"), 5) // the burst was served before the cut
}

func TestShutdownClosesWithGoingAway(t *testing.T) {
	is := is.New(t)
	srv := start(t, nil)
	a, _ := dial(t, srv, "name=ann")
	b, _ := dial(t, srv, "name=bob")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	is.NoErr(srv.App.Shutdown(ctx))
	is.Equal(a.ExpectClose(t), mega.CloseGoingAway)
	is.Equal(b.ExpectClose(t), mega.CloseGoingAway)
	resp, err := http.Get(srv.URL + "/readyz")
	is.NoErr(err)
	resp.Body.Close()
	is.Equal(resp.StatusCode, http.StatusServiceUnavailable)
}

func TestConnectionCaps(t *testing.T) {
	is := is.New(t)
	srv := start(t, &mega.Limits{MaxConnectionsPerIP: 3, MaxConnectionsPerUser: 2})
	a1, _ := dial(t, srv, "name=ann")
	dial(t, srv, "name=ann")
	_, resp, err := srv.DialErr("/ws/chat?name=ann", nil) // third tab of ann
	is.True(err != nil)
	is.Equal(resp.StatusCode, http.StatusTooManyRequests)

	dial(t, srv, "name=bob")
	_, resp, err = srv.DialErr("/ws/chat?name=cid", nil) // fourth from 127.0.0.1
	is.True(err != nil)
	is.Equal(resp.StatusCode, http.StatusTooManyRequests)

	// A slot frees when a connection ends.
	a1.Close()
	var c *megatest.Client
	testkit.Poll(5*time.Second, func() bool { // the server notices the close asynchronously
		c, _, err = srv.DialErr("/ws/chat?name=ann", nil)
		return err == nil
	})
	is.NoErr(err)
	c.Expect(t, "welcome")
	c.Close()
}

// TestJoinLimitsAndIdentity shows that presence refuses what a client
// could try through the app: another user's id, oversized metadata, too
// many sub-channels. Each is refused at join; the app closes with 1008.
func TestJoinLimitsAndIdentity(t *testing.T) {
	srv := start(t, &mega.Limits{MaxMetadata: 2048, MaxChannels: 4})
	cases := []struct{ name, query string }{
		{"another user's id", "name=eve&as=ann"},
		{"metadata over the limit", "name=eve&bigmeta=xxx"}, // 3 KiB of metadata
		{"too many sub-channels", "name=eve&manychannels=xxxxx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			c := srv.Dial(t, "/ws/chat?"+tc.query)
			is.Equal(c.ExpectClose(t), mega.ClosePolicyViolation)
		})
	}
	is := is.New(t)
	ok, _ := dial(t, srv, "name=eve&as=eve&bigmeta=x&manychannels=xxxx") // within the limits
	ok.PushRef(t, "roster", nil, "r")
	var list []mega.Member
	ok.Expect(t, "roster").Decode(t, &list)
	is.Equal(len(list), 1)
	is.Equal(list[0].UserID, "eve")
}

// TestKeepaliveCutsDeadPeers: a client that never reads also never answers
// pings (coder/websocket answers them from its reader), so the server must
// notice within PingInterval + PongTimeout and remove it.
func TestKeepaliveCutsDeadPeers(t *testing.T) {
	is := is.New(t)
	srv := start(t, &mega.Limits{PingInterval: 100 * time.Millisecond, PongTimeout: 200 * time.Millisecond})
	watcher, _ := dial(t, srv, "name=watcher")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dead, _, err := websocket.Dial(ctx, srv.WebSocketURL("/ws/chat?name=dead"), nil)
	is.NoErr(err)
	defer dead.CloseNow()
	watcher.ExpectPresence(t, "join")

	start := time.Now()
	var left mega.Member
	left = watcher.ExpectPresence(t, "leave")
	is.Equal(left.UserID, "dead")
	t.Logf("dead peer removed %s after it joined (ping 100ms, pong timeout 200ms)", time.Since(start))

	// A live client that reads keeps answering pings and stays.
	watcher.PushRef(t, "roster", nil, "r")
	var list []mega.Member
	watcher.Expect(t, "roster").Decode(t, &list)
	is.Equal(len(list), 1)
}

// listening is the chat channel plus a PresenceListener.
type listening struct {
	*chat
	events chan string
}

func (l *listening) OnPresence(ev mega.PresenceEvent) {
	op := map[mega.PresenceOp]string{mega.PresenceJoin: "join", mega.PresenceUpdate: "update", mega.PresenceLeave: "leave"}[ev.Op]
	if op != ev.Op.String() {
		op = "op " + ev.Op.String() + " is not its constant"
	}
	l.events <- op + " " + ev.Member.UserID
}

func TestOnPresenceSeesEveryChangeOnce(t *testing.T) {
	is := is.New(t)
	l := &listening{chat: newChat(), events: make(chan string, 16)}
	app := mega.NewApp("test")
	app.Channel("/ws/chat", l, mega.WithAuth(auth)) // no presence frames: the hook alone
	srv := megatest.Start(t, app)

	next := func() string {
		select {
		case ev := <-l.events:
			return ev
		case <-time.After(megatest.Timeout):
			t.Fatal("no presence event")
			return ""
		}
	}
	ann, _ := dial(t, srv, "name=ann")
	is.Equal(next(), "join ann")
	bob, _ := dial(t, srv, "name=bob")
	is.Equal(next(), "join bob")
	bob.Close()
	is.Equal(next(), "leave bob")
	ann.ExpectNone(t, "presence.join", 50*time.Millisecond) // frames were not asked for
	is.Equal(len(l.events), 0)                              // one event per change, not per connection
}

func TestUpdateLeaveUsersAndState(t *testing.T) {
	is := is.New(t)
	srv := start(t, nil)
	ann, _ := dial(t, srv, "name=ann")
	tab1, _ := dial(t, srv, "name=bob")
	tab2, w2 := dial(t, srv, "name=bob")
	ann.ExpectPresence(t, "join")
	ann.ExpectPresence(t, "join")

	tab2.Push(t, "mood", map[string]string{"Mood": "sunny"})
	var updated mega.Member
	updated = ann.ExpectPresence(t, "update")
	is.Equal(updated.SessionID, w2.SessionID)
	is.Equal(string(updated.Metadata), `{"mood":"sunny"}`)

	tab2.PushRef(t, "whoami", nil, "w")
	var you struct {
		Mood  string
		Users []mega.UserPresence
	}
	tab2.Expect(t, "you").Decode(t, &you)
	is.Equal(you.Mood, "sunny") // per-connection state
	is.Equal(len(you.Users), 2) // ann and bob, bob's two tabs grouped
	for _, u := range you.Users {
		if u.UserID == "bob" {
			is.Equal(len(u.Sessions), 2)
		}
	}

	tab2.Push(t, "leave", nil)
	var left mega.Member
	left = ann.ExpectPresence(t, "leave")
	is.Equal(left.SessionID, w2.SessionID)
	// Left presence but still connected: namespace-wide broadcasts still arrive.
	tab1.Push(t, "send", map[string]string{"text": "still here?"})
	tab2.Expect(t, "said")
	tab2.PushRef(t, "mood", map[string]string{"Mood": "x"}, "m")
	is.Equal(tab2.Expect(t, "error").Ref, "m") // Update after Leave fails: not joined
}
