package mega_test

import (
	"encoding/json"
	"testing"

	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// welcomer welcomes each connection with Presence.Welcome and answers
// roster.get with Presence.Members, as the generated chat does.
type welcomer struct{ mega.Router }

func newWelcomer() *welcomer {
	w := &welcomer{}
	mega.HandleMessage(&w.Router, "roster.get", func(ctx *mega.Ctx, msg mega.Message) error {
		return ctx.Reply(msg, "roster", struct {
			Members mega.Members `json:"members"`
		}{ctx.Presence.Members()})
	})
	return w
}

func (*welcomer) OnConnect(ctx *mega.Ctx) error {
	if ctx.Request().URL.Query().Get("lurk") == "" {
		err := ctx.Presence.Join(mega.Entry{Channels: []string{"lobby"}, Metadata: mega.Meta{"room": "lobby"}})
		if err != nil {
			return err
		}
	}
	welcome, err := ctx.Presence.Welcome()
	if err != nil {
		return err
	}
	return ctx.Send("welcome", welcome)
}

func TestWelcomeAndMembersOnTheWire(t *testing.T) {
	is := is.New(t)
	app := mega.NewApp("test")
	app.Channel("/ws/w", newWelcomer(), mega.WithAuth(auth))
	srv := megatest.Start(t, app)

	srv.Dial(t, "/ws/w?name=ann").Expect(t, "welcome")
	bob := srv.Dial(t, "/ws/w?name=bob")
	welcome := bob.Expect(t, "welcome")

	// Exactly these keys: no namespace, no sub-channels.
	var got struct {
		SessionID string                       `json:"sessionId"`
		UserID    string                       `json:"userId"`
		Members   []map[string]json.RawMessage `json:"members"`
	}
	welcome.Decode(t, &got)
	is.Equal(got.UserID, "bob")
	is.True(got.SessionID != "")
	is.Equal(len(got.Members), 2)
	users := map[string]bool{}
	for _, m := range got.Members {
		is.Equal(len(m), 3) // sessionId, userId, metadata
		is.Equal(string(m["metadata"]), `{"room":"lobby"}`)
		var id string
		is.NoErr(json.Unmarshal(m["userId"], &id))
		users[id] = true
	}
	is.Equal(users, map[string]bool{"ann": true, "bob": true})

	bob.Push(t, "roster.get", nil)
	var roster struct {
		Members []map[string]json.RawMessage `json:"members"`
	}
	bob.Expect(t, "roster").Decode(t, &roster)
	is.Equal(roster.Members, got.Members) // one shape for both

	// Before Join there is no welcome to give: OnConnect fails.
	lurker := srv.Dial(t, "/ws/w?name=cid&lurk=1")
	is.Equal(lurker.ExpectClose(t), 1008)
}
