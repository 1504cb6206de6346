package mainapp_test

import (
	"testing"

	"github.com/matryer/is"
	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"

	mainapp "crud/apps/main"
)

// TestChatAcrossInstances boots two instances of the app on one NATS
// server, as two processes with one NATS_URL would run, and checks that
// chat, whispers and presence cross between them.
func TestChatAcrossInstances(t *testing.T) {
	is := is.New(t)
	servers := megatest.BootCluster(t, 2, mega.Apps{"main": mainapp.New}, testConfig(t))
	one, two := servers[0], servers[1]

	ann, wa := joinChat(t, one, "ann", "")
	bob, wb := joinChat(t, two, "bob", "")

	// presence.join crosses instances.
	var joined member
	ann.Expect(t, "presence.join").Decode(t, &joined)
	is.Equal(joined.SessionID, wb.SessionID)
	is.Equal(joined.Metadata, map[string]string{"name": "bob", "room": "lobby"})

	// The roster is cluster-wide.
	bob.PushRef(t, "roster.get", nil, "r")
	var roster struct {
		Members []member `json:"members"`
	}
	bob.Expect(t, "roster").Decode(t, &roster)
	_, ok := findMember(roster.Members, wa.SessionID)
	is.True(ok) // bob's instance lists ann

	// chat.send reaches the room on both instances, exactly once each.
	cid, _ := joinChat(t, two, "cid", "kitchen")
	ann.Expect(t, "presence.join") // cid
	ann.Push(t, "chat.send", map[string]string{"text": "hello from one"})
	for _, c := range []*megatest.Client{ann, bob} {
		var got chatMessage
		c.Expect(t, "chat.message").Decode(t, &got)
		is.Equal(got.Text, "hello from one")
		is.Equal(got.From.UserID, "ann")
	}
	bob.Push(t, "chat.send", map[string]string{"text": "hello from two"})
	for _, c := range []*megatest.Client{ann, bob} {
		var got chatMessage
		c.Expect(t, "chat.message").Decode(t, &got)
		is.Equal(got.Text, "hello from two")
	}
	ann.ExpectNone(t, "chat.message", quiet)
	bob.ExpectNone(t, "chat.message", quiet)
	cid.ExpectNone(t, "chat.message", quiet) // another room

	// chat.whisper reaches every session of the user, on either instance.
	ann2, _ := joinChat(t, two, "ann", "kitchen")
	bob.Expect(t, "presence.join") // ann's second session, local to bob
	ann.Expect(t, "presence.join") // and remote to ann's first
	cid.Push(t, "chat.whisper", map[string]string{"to": "ann", "text": "psst"})
	for _, c := range []*megatest.Client{ann, ann2} {
		var got whisper
		c.Expect(t, "chat.whisper").Decode(t, &got)
		is.Equal(got.Text, "psst")
		is.Equal(got.From.UserID, "cid")
	}
	bob.ExpectNone(t, "chat.whisper", quiet)

	// presence.leave crosses instances.
	bob.Close()
	var left member
	ann.Expect(t, "presence.leave").Decode(t, &left)
	is.Equal(left.SessionID, wb.SessionID)
	cid.Expect(t, "presence.leave").Decode(t, &left)
	is.Equal(left.SessionID, wb.SessionID) // bob, local to cid
	ann.Close()
	cid.Expect(t, "presence.leave").Decode(t, &left)
	is.Equal(left.SessionID, wa.SessionID)
}
