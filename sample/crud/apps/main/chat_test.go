package mainapp_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// quiet is how long a test waits to show that a frame does not arrive,
// after a frame that proves the server has done the work.
const quiet = 150 * time.Millisecond

// welcome is the first frame of /ws/chat.
type welcome struct {
	SessionID string   `json:"sessionId"`
	UserID    string   `json:"userId"`
	Members   []member `json:"members"`
}

// member is a roster entry of the chat protocol.
type member struct {
	SessionID string            `json:"sessionId"`
	UserID    string            `json:"userId"`
	Metadata  map[string]string `json:"metadata"`
}

type from struct {
	UserID string `json:"userId"`
	Name   string `json:"name"`
}

type chatMessage struct {
	From from      `json:"from"`
	Room string    `json:"room"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

type whisper struct {
	From from      `json:"from"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

type errorFrame struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Ref     string `json:"ref"`
}

// joinChat connects name to room ("" for the default) and returns the
// client with its welcome.
func joinChat(t *testing.T, srv *megatest.Server, name, room string) (*megatest.Client, welcome) {
	t.Helper()
	path := "/ws/chat?name=" + name
	if room != "" {
		path += "&room=" + room
	}
	c := srv.Dial(t, path)
	var w welcome
	c.Expect(t, "welcome").Decode(t, &w)
	return c, w
}

// findMember returns the member with session id sid.
func findMember(list []member, sid string) (member, bool) {
	for _, m := range list {
		if m.SessionID == sid {
			return m, true
		}
	}
	return member{}, false
}

func TestChatWelcomeAndPresence(t *testing.T) {
	is := is.New(t)
	srv := startApp(t)

	ann, wa := joinChat(t, srv, "ann", "")
	is.Equal(wa.UserID, "ann")
	is.True(wa.SessionID != "")
	self, ok := findMember(wa.Members, wa.SessionID)
	is.True(ok) // the welcome's roster includes the new member
	is.Equal(self.Metadata, map[string]string{"name": "ann", "room": "lobby"})

	// Presence is per namespace: ann hears of bob although he is elsewhere.
	bob, wb := joinChat(t, srv, "bob", "kitchen")
	is.Equal(len(wb.Members), 2)
	joined := ann.ExpectPresence(t, "join")
	is.Equal(joined.SessionID, wb.SessionID)
	is.Equal(joined.UserID, "bob")
	is.Equal(string(joined.Metadata), `{"name":"bob","room":"kitchen"}`)

	bob.PushRef(t, "roster.get", nil, "sync")
	bob.Expect(t, "roster")
	is.Equal(bob.PresenceChanges("join"), 0) // no join event for yourself

	bob.Close()
	left := ann.ExpectPresence(t, "leave")
	is.Equal(left.SessionID, wb.SessionID)
	is.Equal(left.UserID, "bob")
}

func TestChatSendReachesTheRoomOnce(t *testing.T) {
	is := is.New(t)
	srv := startApp(t)
	ann, _ := joinChat(t, srv, "ann", "lobby")
	bob, _ := joinChat(t, srv, "bob", "")
	cid, _ := joinChat(t, srv, "cid", "kitchen")

	before := time.Now().Add(-time.Second)
	ann.Push(t, "chat.send", map[string]string{"text": "  hello lobby  "})
	for _, c := range []*megatest.Client{ann, bob} {
		var got chatMessage
		c.Expect(t, "chat.message").Decode(t, &got)
		is.Equal(got.From, from{UserID: "ann", Name: "ann"})
		is.Equal(got.Room, "lobby")
		is.Equal(got.Text, "hello lobby") // trimmed
		is.True(got.At.After(before))
	}
	ann.ExpectNone(t, "chat.message", quiet) // the sender sees it once
	bob.ExpectNone(t, "chat.message", quiet)
	cid.ExpectNone(t, "chat.message", quiet) // another room

	cid.Push(t, "chat.send", map[string]string{"text": "hello kitchen"})
	var got chatMessage
	cid.Expect(t, "chat.message").Decode(t, &got)
	is.Equal(got.Room, "kitchen")
	is.Equal(got.Text, "hello kitchen")
}

func TestChatWhisperReachesEverySessionOfTheUser(t *testing.T) {
	is := is.New(t)
	srv := startApp(t)
	tab1, w1 := joinChat(t, srv, "ann", "")
	tab2, w2 := joinChat(t, srv, "ann", "kitchen") // one user, two sessions
	is.True(w1.SessionID != w2.SessionID)
	bob, _ := joinChat(t, srv, "bob", "")
	cid, _ := joinChat(t, srv, "cid", "")

	bob.Push(t, "chat.whisper", map[string]string{"to": "ann", "text": "psst"})
	for _, c := range []*megatest.Client{tab1, tab2} {
		var got whisper
		c.Expect(t, "chat.whisper").Decode(t, &got)
		is.Equal(got.From, from{UserID: "bob", Name: "bob"})
		is.Equal(got.Text, "psst")
		is.True(!got.At.IsZero())
	}
	bob.ExpectNone(t, "chat.whisper", quiet)
	cid.ExpectNone(t, "chat.whisper", quiet)
	is.Equal(tab1.Count("chat.message"), 0) // a whisper is not a room message
}

func TestChatRoster(t *testing.T) {
	is := is.New(t)
	srv := startApp(t)
	ann, wa := joinChat(t, srv, "ann", "")
	_, wb := joinChat(t, srv, "bob", "kitchen")

	ann.PushRef(t, "roster.get", nil, "r1")
	f := ann.Expect(t, "roster")
	is.Equal(f.Ref, "r1") // a reply carries the request's ref
	var roster struct {
		Members []member `json:"members"`
	}
	f.Decode(t, &roster)
	is.Equal(len(roster.Members), 2)
	a, ok := findMember(roster.Members, wa.SessionID)
	is.True(ok)
	is.Equal(a.Metadata["room"], "lobby")
	b, ok := findMember(roster.Members, wb.SessionID)
	is.True(ok)
	is.Equal(b.UserID, "bob")
	is.Equal(b.Metadata["room"], "kitchen")
}

func TestChatBadFrames(t *testing.T) {
	srv := startApp(t)
	ann, _ := joinChat(t, srv, "ann", "")
	bob, _ := joinChat(t, srv, "bob", "")

	cases := []struct {
		name, frame, code, ref string
	}{
		{"malformed JSON", `{"type":`, mega.CodeBadRequest, ""},
		{"not an object", `[1,2]`, mega.CodeBadRequest, ""},
		{"unknown type", `{"type":"chat.shout","ref":"u1"}`, mega.CodeUnknownType, "u1"},
		{"send without payload", `{"type":"chat.send","ref":"s1"}`, mega.CodeBadRequest, "s1"},
		{"send with text of the wrong type", `{"type":"chat.send","payload":{"text":5},"ref":"s2"}`, mega.CodeBadRequest, "s2"},
		{"send with blank text", `{"type":"chat.send","payload":{"text":"   "},"ref":"s3"}`, mega.CodeBadRequest, "s3"},
		{"send with too long a text", `{"type":"chat.send","payload":{"text":"` + strings.Repeat("x", 2001) + `"},"ref":"s4"}`, mega.CodeBadRequest, "s4"},
		{"whisper to an invalid name", `{"type":"chat.whisper","payload":{"to":"no one","text":"hi"},"ref":"w1"}`, mega.CodeBadRequest, "w1"},
		{"whisper without text", `{"type":"chat.whisper","payload":{"to":"bob"},"ref":"w2"}`, mega.CodeBadRequest, "w2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			ann.PushRaw(t, []byte(tc.frame))
			var e errorFrame
			ann.Expect(t, "error").Decode(t, &e)
			is.Equal(e.Code, tc.code)
			is.Equal(e.Ref, tc.ref)
			is.True(e.Message != "")
		})
	}

	is := is.New(t)
	// The connection stayed open through all of that.
	ann.Push(t, "chat.send", map[string]string{"text": "still here"})
	ann.Expect(t, "chat.message")
	bob.Expect(t, "chat.message")

	// A frame over the read limit (64 KiB by default) closes that
	// connection with 1009; everyone else is still served.
	ann.PushRaw(t, []byte(`{"type":"chat.send","payload":{"text":"`+strings.Repeat("x", 70<<10)+`"}}`))
	is.Equal(ann.ExpectClose(t), mega.CloseTooBig)
	left := bob.ExpectPresence(t, "leave")
	is.Equal(left.UserID, "ann")
	bob.Push(t, "chat.send", map[string]string{"text": "others fine"})
	bob.Expect(t, "chat.message")
}

func TestChatRefusesBadNamesAndRooms(t *testing.T) {
	srv := startApp(t)
	cases := []struct{ name, query string }{
		{"no name", "room=lobby"},
		{"empty name", "name="},
		{"name with a space", "name=ann+lee"},
		{"name with other letters", "name=%C3%A5sa"},
		{"name too long", "name=" + strings.Repeat("a", 33)},
		{"room with a space", "name=ann&room=a+b"},
		{"room too long", "name=ann&room=" + strings.Repeat("r", 65)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			c, res, err := srv.DialErr("/ws/chat?"+tc.query, nil)
			if c != nil {
				c.Close()
			}
			is.True(err != nil) // the upgrade is refused
			is.True(res != nil)
			is.Equal(res.StatusCode, http.StatusBadRequest)
		})
	}
	is := is.New(t)
	c, w := joinChat(t, srv, strings.Repeat("a", 32), "")
	is.Equal(len(w.UserID), 32) // the longest name is fine
	c.Close()
}
