package mega

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/matryer/is"

	"github.com/megaframework/mega/framework/hub"
)

// wireMember is a member as the protocol shows it, for json.Marshal to
// compare with.
type wireMember struct {
	SessionID string          `json:"sessionId"`
	UserID    string          `json:"userId"`
	Metadata  json.RawMessage `json:"metadata,omitempty"`
}

// convert is the per-member copy Members saves apps from writing.
func convert(list []hub.Member) []wireMember {
	out := make([]wireMember, len(list))
	for i, m := range list {
		out[i] = wireMember{SessionID: m.SessionID, UserID: m.UserID, Metadata: m.Metadata}
	}
	return out
}

// roster returns n members the way a chat joins them: ids and {name, room}.
func roster(n int) []hub.Member {
	list := make([]hub.Member, n)
	for i := range list {
		list[i] = hub.Member{
			Namespace: "/ws/chat",
			SessionID: fmt.Sprintf("s%021d", i), // as long as a real session id
			UserID:    fmt.Sprintf("user%d", i),
			Channels:  []string{"lobby"},
			Metadata:  json.RawMessage(fmt.Sprintf(`{"name":"user%d","room":"lobby"}`, i)),
		}
	}
	return list
}

func TestMembersJSON(t *testing.T) {
	tests := []struct {
		name  string
		list  []hub.Member
		exact bool // AppendJSON's output equals json.Marshal's byte for byte
	}{
		{"Empty", nil, false}, // [] where json.Marshal of a nil slice says null
		{"NoMetadata", []hub.Member{{Namespace: "/ws/x", SessionID: "a", UserID: "ann", Channels: []string{"c"}}}, true},
		{"Metadata", roster(3), true},
		{"EscapedIDs", []hub.Member{{SessionID: `q"b\s`, UserID: "tab\there\nnew"}, {SessionID: "ünï", UserID: "\x01"}}, true},
		{"InvalidUTF8", []hub.Member{{SessionID: "a\xffb", UserID: "u"}}, true},
		{"HTML", []hub.Member{{SessionID: "<b>&", UserID: "u"}}, false}, // json.Marshal escapes < > & as \u003c...
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			m := Members{list: tc.list}
			got, err := json.Marshal(m)
			is.NoErr(err)
			is.True(json.Valid(got))
			want, err := json.Marshal(convert(tc.list))
			is.NoErr(err)
			var g, w []wireMember
			is.NoErr(json.Unmarshal(got, &g))
			is.NoErr(json.Unmarshal(want, &w))
			is.Equal(len(g), len(w))
			for i := range g {
				is.Equal(g[i].SessionID, w[i].SessionID)
				is.Equal(g[i].UserID, w[i].UserID)
				is.Equal(string(g[i].Metadata), string(w[i].Metadata))
			}
			if tc.exact {
				is.Equal(string(got), string(want))
			}
			if tc.list == nil {
				is.Equal(string(got), "[]") // an empty roster is a list, never null
			}
			is.Equal(m.Len(), len(tc.list))
		})
	}
}

func TestMembersEncodedLenIsExact(t *testing.T) {
	is := is.New(t)
	for _, n := range []int{0, 1, 2, 100} {
		m := Members{list: roster(n)}
		b, _ := m.MarshalJSON()
		is.Equal(len(b), m.encodedLen())
		is.Equal(cap(b), len(b)) // one buffer of the right size
	}
}

func TestAppendWelcome(t *testing.T) {
	is := is.New(t)
	list := roster(2)
	self := list[1]
	got := appendWelcome(nil, self, Members{list: list})
	want, err := json.Marshal(struct {
		SessionID string       `json:"sessionId"`
		UserID    string       `json:"userId"`
		Members   []wireMember `json:"members"`
	}{self.SessionID, self.UserID, convert(list)})
	is.NoErr(err)
	is.Equal(string(got), string(want))
	is.Equal(cap(got), len(got))

	big := Members{list: roster(1000)}
	allocs := testing.AllocsPerRun(10, func() { _ = appendWelcome(nil, self, big) })
	is.Equal(allocs, 1.0) // one buffer, whatever the roster's size
}

func TestTakeSlot(t *testing.T) {
	is := is.New(t)
	// Hold every slot, as a join storm's big welcomes do.
	for range cap(encodeSlots) {
		is.NoErr(takeSlot(context.Background()))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a newcomer whose connection ended while it waited
	is.True(errors.Is(takeSlot(ctx), context.Canceled))
	releaseSlot()
	is.NoErr(takeSlot(context.Background())) // a slot given back is taken again
	for range cap(encodeSlots) {
		releaseSlot()
	}
	is.Equal(len(encodeSlots), 0)
}

// BenchmarkWelcome compares a welcome of a 10,000-member roster encoded by
// appendWelcome, straight from the roster, with the same encoder after
// List's copy (the sample chat before Presence.Welcome), json.Marshal of
// the members converted to the protocol's type (an app without an encoder
// of its own) and json.Marshal of Members.
func BenchmarkWelcome(b *testing.B) {
	list := roster(10_000)
	self := list[0]
	b.Run("appendWelcome", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = appendWelcome(nil, self, Members{list: list})
		}
	})
	b.Run("List+appendWelcome", func(b *testing.B) {
		// What the sample chat did before: Presence.List's copy of the
		// roster, then its own encoder.
		b.ReportAllocs()
		for b.Loop() {
			_ = appendWelcome(nil, self, Members{list: copyMembers(list)})
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(struct {
				SessionID string       `json:"sessionId"`
				UserID    string       `json:"userId"`
				Members   []wireMember `json:"members"`
			}{self.SessionID, self.UserID, convert(list)})
		}
	})
	b.Run("json.Marshal-Members", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(struct {
				SessionID string  `json:"sessionId"`
				UserID    string  `json:"userId"`
				Members   Members `json:"members"`
			}{self.SessionID, self.UserID, Members{list: list}})
		}
	})
}
