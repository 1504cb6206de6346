package mainapp

import (
	"fmt"
	"net/http"
	"regexp"
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
	// The welcome carries the whole roster; during a join storm the
	// framework builds big ones a few at a time (see Presence.Welcome).
	welcome, err := ctx.Presence.Welcome()
	if err != nil {
		return err
	}
	return ctx.Send("welcome", welcome)
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
	return ctx.Reply(msg, "roster", rosterOut{Members: ctx.Presence.Members()})
}

// rosterOut is the payload of roster.
type rosterOut struct {
	Members mega.Members `json:"members"`
}
