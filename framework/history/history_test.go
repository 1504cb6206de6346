package history

import (
	"testing"

	"github.com/matryer/is"
)

func TestAtLeast(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    bool
	}{
		{"2.11.0", true},
		{"2.15.2", true},
		{"3.0.0", true},
		{"2.10.22", false},
		{"1.4.1", false},
		{"v2.12.1-beta", true},
		{"2.9", false},
		{"weird", true},
	} {
		t.Run(tc.version, func(t *testing.T) {
			is.New(t).Equal(atLeast(tc.version, 2, 11), tc.want)
		})
	}
}

func TestStreamName(t *testing.T) {
	is := is.New(t)
	a := StreamName("mega.ws", "main", "/ws/chat")
	is.Equal(a[:len("mega_main__ws_chat_")], "mega_main__ws_chat_") // readable
	is.True(a != StreamName("other.ws", "main", "/ws/chat"))        // unique per prefix
	is.True(StreamName("mega.ws", "main", "/ws/a.b") != StreamName("mega.ws", "main", "/ws/a_b"))
	for _, r := range StreamName("mega.ws", "main", "/ws/ä *>.x") {
		is.True(r != '.' && r != '*' && r != '>' && r != ' ') // a valid stream name
	}
}

func TestTokens(t *testing.T) {
	is := is.New(t)
	for _, s := range []string{"", "lobby", "a.b", "*", ">", "ä room"} {
		tok := token(s)
		back, ok := untoken(tok)
		is.True(ok)
		is.Equal(back, s)
		for _, r := range tok {
			is.True(r != '.' && r != '*' && r != '>' && r != ' ')
		}
	}
	_, ok := untoken("!!")
	is.True(!ok)
}
