package mainapp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	mega "github.com/megaframework/mega/framework"
)

// Chat is the channel at /ws/chat?name=NAME&room=ROOM. Presence is per
// namespace: every connection on /ws/chat, whatever its room, sees every
// presence.join and presence.leave (the framework sends them; the member's
// metadata {name, room} lets a page filter by room). Chat messages are per
// room: each connection joins the sub-channel of its room.
//
// Messages (see the protocol in README.md):
//
//	chat.send    {text}       → chat.message {from: {userId, name}, room, text, at} to the room
//	chat.whisper {to, text}   → chat.whisper {from: {userId, name}, text, at} to every session of user to
//	roster.get                → roster {members: [{sessionId, userId, metadata}]}, cluster-wide
//
// The embedded mega.Router is the channel's OnMessage: it dispatches by
// type, and the framework answers unknown types and malformed payloads
// with an error frame.
type Chat struct{ mega.Router }

// Limits of the chat protocol.
const (
	defaultRoom = "lobby"
	maxChatText = 2000 // characters
)

// roomPattern is what a room id may be: "lobby" or a room's id.
var roomPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// newChat returns the chat channel with its message handlers.
func newChat() *Chat {
	c := &Chat{}
	mega.Handle(&c.Router, "chat.send", c.send)
	mega.Handle(&c.Router, "chat.whisper", c.whisper)
	mega.HandleMessage(&c.Router, "roster.get", c.roster)
	return c
}

// chatAuth takes the user from ?name= (see nameAuth) and refuses a
// malformed ?room= with 400, before the upgrade.
func chatAuth(r *http.Request) (mega.User, error) {
	if room := r.URL.Query().Get("room"); room != "" && !roomPattern.MatchString(room) {
		return mega.User{}, mega.Reject(http.StatusBadRequest, "room must be 1 to 64 characters of A-Z a-z 0-9 _ -")
	}
	return nameAuth(r)
}

// roomOf returns the room a connection asked for; chatAuth validated it.
func roomOf(ctx *mega.Ctx) string {
	if room := ctx.Request().URL.Query().Get("room"); room != "" {
		return room
	}
	return defaultRoom
}

// member is a roster entry as the chat protocol shows it.
type member struct {
	SessionID string          `json:"sessionId"`
	UserID    string          `json:"userId"`
	Metadata  json.RawMessage `json:"metadata,omitempty"`
}

// members converts the framework's roster to the protocol's.
func members(list []mega.Member) []member {
	out := make([]member, len(list))
	for i, m := range list {
		out[i] = member{SessionID: m.SessionID, UserID: m.UserID, Metadata: m.Metadata}
	}
	return out
}

// sender identifies who sent a message.
type sender struct {
	UserID string `json:"userId"`
	Name   string `json:"name"`
}

func senderOf(ctx *mega.Ctx) sender {
	id := ctx.User().ID
	return sender{UserID: id, Name: id} // the user id is the name
}

// OnConnect joins presence with metadata {name, room} and the room's
// sub-channel, then sends the welcome with the cluster-wide roster. The
// framework tells everyone else (presence.join).
func (c *Chat) OnConnect(ctx *mega.Ctx) error {
	name, room := ctx.User().ID, roomOf(ctx)
	err := ctx.Presence.Join(mega.Entry{
		Channels: []string{room},
		Metadata: mega.Meta{"name": name, "room": room},
	})
	if err != nil {
		return err
	}
	self, _ := ctx.Presence.Self()
	// Wait for a slot (below), unless the connection ends meanwhile: a
	// newcomer that is gone needs no welcome.
	select {
	case welcomeSlots <- struct{}{}:
	case <-ctx.Context().Done():
		return ctx.Context().Err()
	}
	welcome := welcomeOf(self, ctx.Presence.List())
	<-welcomeSlots
	return ctx.Send("welcome", welcome)
}

// welcomeSlots bounds how many welcomes are built at the same time. A
// welcome carries the whole roster, so when thousands connect at once each
// newcomer would otherwise hold its own copy of a roster of thousands at the
// same moment: n²/2 members in memory at the peak of a join storm, which the
// process keeps as resident memory long after. Building a welcome never
// waits on I/O, so one slot per CPU costs no throughput.
var welcomeSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// welcomeOf encodes the welcome, {sessionId, userId, members}, from the
// cluster-wide roster list, straight into one buffer of the right size
// (json.Marshal of converted members would build, grow and copy it several
// times for every newcomer).
func welcomeOf(self mega.Member, list []mega.Member) json.RawMessage {
	size := 64 + len(self.SessionID) + len(self.UserID)
	for i := range list {
		size += 48 + len(list[i].SessionID) + len(list[i].UserID) + len(list[i].Metadata)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"sessionId":`...)
	b = appendJSONString(b, self.SessionID)
	b = append(b, `,"userId":`...)
	b = appendJSONString(b, self.UserID)
	b = append(b, `,"members":[`...)
	for i := range list {
		m := &list[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"sessionId":`...)
		b = appendJSONString(b, m.SessionID)
		b = append(b, `,"userId":`...)
		b = appendJSONString(b, m.UserID)
		if len(m.Metadata) > 0 {
			b = append(b, `,"metadata":`...)
			b = append(b, m.Metadata...) // already a JSON object
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendJSONString appends s as a JSON string. Ids here are plain ASCII;
// anything else is left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// chatText checks the text of a message.
func chatText(text string) (string, error) {
	text = strings.TrimSpace(text)
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return "", mega.BadRequest("text is required")
	case n > maxChatText:
		return "", mega.BadRequest(fmt.Sprintf("text must be at most %d characters, got %d", maxChatText, n))
	}
	return text, nil
}

type sendIn struct {
	Text string `json:"text"`
}

type chatMessage struct {
	From sender    `json:"from"`
	Room string    `json:"room"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// send broadcasts chat.message to every member of the sender's room on
// every instance, the sender included.
func (c *Chat) send(ctx *mega.Ctx, in sendIn) error {
	text, err := chatText(in.Text)
	if err != nil {
		return err
	}
	room := roomOf(ctx)
	return ctx.Presence.Broadcast(mega.Broadcast{
		Channel: room,
		Type:    "chat.message",
		Payload: chatMessage{From: senderOf(ctx), Room: room, Text: text, At: time.Now().UTC()},
	})
}

type whisperIn struct {
	To   string `json:"to"`
	Text string `json:"text"`
}

type whisperOut struct {
	From sender    `json:"from"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// whisper sends chat.whisper to every session of user to, on every
// instance. Whispering to someone who is not online is not an error: the
// message reaches nobody, as it would a moment after they left.
func (c *Chat) whisper(ctx *mega.Ctx, in whisperIn) error {
	if !namePattern.MatchString(in.To) {
		return mega.BadRequest("to must be a user name: 1 to 32 characters of A-Z a-z 0-9 _ -")
	}
	text, err := chatText(in.Text)
	if err != nil {
		return err
	}
	return ctx.Presence.DirectToUser(in.To, mega.Push{
		Type:    "chat.whisper",
		Payload: whisperOut{From: senderOf(ctx), Text: text, At: time.Now().UTC()},
	})
}

// roster answers with every member of /ws/chat on every instance.
func (c *Chat) roster(ctx *mega.Ctx, msg mega.Message) error {
	return ctx.Reply(msg, "roster", rosterOut{Members: members(ctx.Presence.List())})
}

// rosterOut is the payload of roster.
type rosterOut struct {
	Members []member `json:"members"`
}
