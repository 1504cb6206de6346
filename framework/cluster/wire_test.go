package cluster

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/matryer/is"
	"github.com/megaframework/mega/framework/hub"
)

func TestDataRoundTrip(t *testing.T) {
	is := is.New(t)
	frame := []byte(`{"type":"chat.message","payload":{"text":"hi"}}`)

	b := encodeBroadcast(nil, "inst-1", "lobby", []string{"s1", "s 2.>"}, frame)
	h, m, err := decodeData(b)
	is.NoErr(err)
	is.Equal(string(h.origin), "inst-1")
	is.Equal(m.kind, kindBroadcast)
	is.Equal(m.channel, "lobby")
	is.Equal(m.except, []string{"s1", "s 2.>"})
	is.Equal(m.frame, frame)

	b = encodeDirect(nil, "inst-1", "x y.>", frame)
	h, m, err = decodeData(b)
	is.NoErr(err)
	is.Equal(string(h.origin), "inst-1")
	is.Equal(m.kind, kindDirect)
	is.Equal(m.user, "x y.>")
	is.Equal(m.frame, frame)

	// Empty channel, no except list, empty frame.
	_, m, err = decodeData(encodeBroadcast(nil, "i", "", nil, nil))
	is.NoErr(err)
	is.Equal(m.channel, "")
	is.Equal(len(m.except), 0)
	is.Equal(len(m.frame), 0)
}

func TestDataMalformed(t *testing.T) {
	good := encodeBroadcast(nil, "inst", "ch", []string{"a"}, []byte("frame"))
	bad := map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{9}, good[1:]...),
		"kind":          append([]byte{wireVersion, 'z'}, good[2:]...),
		"roster kind":   encodeHeartbeat(nil, "inst", 1, 1),
		"no origin":     {wireVersion, byte(kindBroadcast), 0},
		"short origin":  {wireVersion, byte(kindBroadcast), 10, 'a'},
		"cut channel":   good[:len(good)-len("frame")-5],
		"huge except":   append(appendString(appendHeader(nil, kindBroadcast, "i"), "c"), 0xff, 0xff, 0xff, 0xff, 0x0f),
		"huge string":   append(appendHeader(nil, kindDirect, "i"), 0xff, 0xff, 0xff, 0xff, 0x0f),
		"bad varint":    append(appendHeader(nil, kindDirect, "i"), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
		"only header":   appendHeader(nil, kindBroadcast, "i"),
		"direct header": appendHeader(nil, kindDirect, "i"),
	}
	for name, p := range bad {
		t.Run(name, func(t *testing.T) {
			if _, _, err := decodeData(p); err == nil {
				t.Fatalf("decodeData(%q) accepted a malformed message", p)
			}
		})
	}
}

func sampleMembers(n int) []hub.Member {
	ms := make([]hub.Member, n)
	for i := range ms {
		ms[i] = hub.Member{
			Namespace: "/ws/chat",
			SessionID: "session-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + itoa(i),
			UserID:    "user-" + itoa(i%100),
			Metadata:  json.RawMessage(`{"name":"user","room":"lobby"}`),
		}
		if i%3 == 0 {
			ms[i].Channels = []string{"lobby", "room-" + itoa(i%10)}
		}
	}
	return ms
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestRosterRoundTrip(t *testing.T) {
	is := is.New(t)

	m, err := decodeRoster(encodeHeartbeat(nil, "a", 42, 7))
	is.NoErr(err)
	is.Equal(m.kind, kindHeartbeat)
	is.Equal(m.origin, "a")
	is.Equal(m.seq, uint64(42))
	is.Equal(m.count, uint64(7))

	m, err = decodeRoster(encodeSyncAck(nil, "a", 9, 42, 7))
	is.NoErr(err)
	is.Equal(m.kind, kindSyncAck)
	is.Equal(m.reqID, uint64(9))
	is.Equal(m.seq, uint64(42))
	is.Equal(m.count, uint64(7))

	m, err = decodeRoster(encodeBye(nil, "a"))
	is.NoErr(err)
	is.Equal(m.kind, kindBye)

	for _, k := range []kind{kindSync, kindPing, kindStateReq} {
		m, err = decodeRoster(encodeRequest(nil, k, "a", 99))
		is.NoErr(err)
		is.Equal(m.kind, k)
		is.Equal(m.reqID, uint64(99))
	}

	ms := sampleMembers(10)
	ds := make([]delta, len(ms))
	for i := range ms {
		ds[i] = delta{seq: uint64(5 + i), op: hub.Op(1 + i%3), m: ms[i]}
	}
	var msgs [][]byte
	encodeDeltas("a", ds, func(b []byte) { msgs = append(msgs, append([]byte(nil), b...)) })
	is.Equal(len(msgs), 1)
	m, err = decodeRoster(msgs[0])
	is.NoErr(err)
	is.Equal(m.kind, kindDeltas)
	is.Equal(m.seq, uint64(5))
	is.Equal(m.ops, ds)
}

func TestChunksStayBounded(t *testing.T) {
	is := is.New(t)
	ms := sampleMembers(20_000)
	chunks := encodeChunks("instance", 3, 77, ms)
	is.True(len(chunks) > 1)
	var got []hub.Member
	for i, c := range chunks {
		if len(c) >= hardMessageLimit {
			t.Fatalf("chunk %d is %d bytes, limit %d", i, len(c), hardMessageLimit)
		}
		m, err := decodeRoster(c)
		is.NoErr(err)
		is.Equal(m.kind, kindChunk)
		is.Equal(m.reqID, uint64(3))
		is.Equal(m.seq, uint64(77))
		is.Equal(m.index, i)
		is.Equal(m.total, len(chunks))
		got = append(got, m.chunk...)
	}
	is.Equal(got, ms)
	t.Logf("20,000 members: %d chunks, first %d bytes", len(chunks), len(chunks[0]))

	// Delta batches split the same way.
	ds := make([]delta, len(ms))
	for i := range ms {
		ds[i] = delta{seq: uint64(i + 1), op: hub.OpJoin, m: ms[i]}
	}
	var back []delta
	n := 0
	encodeDeltas("instance", ds, func(b []byte) {
		n++
		if len(b) >= hardMessageLimit {
			t.Fatalf("delta batch is %d bytes", len(b))
		}
		m, err := decodeRoster(b)
		is.NoErr(err)
		is.Equal(m.seq, uint64(len(back)+1)) // batches are consecutive
		back = append(back, m.ops...)
	})
	is.True(n > 1)
	is.Equal(back, ds)

	// An empty snapshot is one empty chunk.
	chunks = encodeChunks("instance", 1, 0, nil)
	is.Equal(len(chunks), 1)
	m, err := decodeRoster(chunks[0])
	is.NoErr(err)
	is.Equal(m.total, 1)
	is.Equal(len(m.chunk), 0)

	// A single member near the per-member limit still fits in one message.
	big := hub.Member{Namespace: "/ns", SessionID: "s", UserID: "u", Metadata: json.RawMessage(`"` + strings.Repeat("x", maxMemberBytes-100) + `"`)}
	is.True(memberSize(&big) <= maxMemberBytes)
	chunks = encodeChunks(strings.Repeat("i", 64), 1<<60, 1<<60, []hub.Member{sampleMembers(1)[0], big})
	for _, c := range chunks {
		is.True(len(c) < hardMessageLimit)
	}
}

func TestRosterMalformed(t *testing.T) {
	members := encodeChunks("a", 1, 1, sampleMembers(3))[0]
	var deltaMsg []byte
	encodeDeltas("a", []delta{{seq: 1, op: hub.OpJoin, m: sampleMembers(1)[0]}}, func(b []byte) { deltaMsg = append([]byte(nil), b...) })
	bad := map[string][]byte{
		"empty":          nil,
		"data kind":      encodeDirect(nil, "a", "u", nil),
		"trailing bytes": append(encodeHeartbeat(nil, "a", 1, 1), 0),
		"cut heartbeat":  encodeHeartbeat(nil, "a", 1<<40, 1)[:6],
		"cut chunk":      members[:len(members)-3],
		"chunk total 0":  append(appendUvarint(appendUvarint(appendUvarint(appendUvarint(appendHeader(nil, kindChunk, "a"), 1), 1), 0), 0), 0),
		"chunk idx>=tot": append(appendUvarint(appendUvarint(appendUvarint(appendUvarint(appendHeader(nil, kindChunk, "a"), 1), 1), 2), 2), 0),
		"chunk huge tot": append(appendUvarint(appendUvarint(appendUvarint(appendUvarint(appendHeader(nil, kindChunk, "a"), 1), 1), 0), maxChunks+1), 0),
		"deltas no ops":  appendUvarint(appendUvarint(appendHeader(nil, kindDeltas, "a"), 1), 0),
		"deltas seq 0":   append(appendUvarint(appendHeader(nil, kindDeltas, "a"), 0), deltaMsg[len(appendHeader(nil, kindDeltas, "a"))+1:]...),
		"deltas bad op":  bytes.Replace(deltaMsg, []byte{1, 1, byte(hub.OpJoin)}, []byte{1, 1, 9}, 1),
		"empty session":  encodeChunks("a", 1, 1, []hub.Member{{Namespace: "n", UserID: "u"}})[0],
		"cut deltas":     deltaMsg[:len(deltaMsg)-1],
	}
	for name, p := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeRoster(p); err == nil {
				t.Fatalf("decodeRoster accepted a malformed message: %q", p)
			}
		})
	}
}

func TestSubjectTokens(t *testing.T) {
	is := is.New(t)
	for _, ns := range []string{"", "/ws/chat", "a.b.*.>", "x y", ">", "*", ".", "_", "\x00\n\t"} {
		tok := nsToken(ns)
		is.True(validToken(tok)) // every namespace becomes exactly one safe token
	}
	is.True(nsToken("") != nsToken("_")) // the empty namespace has its own token
	is.True(nsToken("a.b") != nsToken("a_b"))

	is.True(validToken("mega"))
	is.True(!validToken(""))
	is.True(!validToken("a.b"))
	is.True(!validToken("a*"))
	is.True(!validToken("a>"))
	is.True(!validToken("a b"))
	is.True(!validToken("a\tb"))
	is.True(validSubject("mega.ws"))
	is.True(!validSubject("mega..ws"))
	is.True(!validSubject("mega.ws."))
	is.True(!validSubject("mega.>"))
}

// FuzzDecode feeds arbitrary payloads to every decoder: they must never
// panic, and whatever they accept must survive a re-encode round trip.
func FuzzDecode(f *testing.F) {
	f.Add(encodeBroadcast(nil, "inst", "lobby", []string{"s1"}, []byte(`{"type":"x"}`)))
	f.Add(encodeDirect(nil, "inst", "u", []byte("frame")))
	f.Add(encodeHeartbeat(nil, "inst", 3, 2))
	f.Add(encodeBye(nil, "inst"))
	f.Add(encodeSyncAck(nil, "inst", 1, 2, 3))
	f.Add(encodeRequest(nil, kindSync, "inst", 1))
	f.Add(encodeChunks("inst", 1, 2, sampleMembers(3))[0])
	encodeDeltas("inst", []delta{{seq: 1, op: hub.OpJoin, m: sampleMembers(1)[0]}}, func(b []byte) { f.Add(append([]byte(nil), b...)) })
	f.Add([]byte{})
	f.Add([]byte{wireVersion, byte(kindChunk), 1, 'a', 0xff})

	f.Fuzz(func(t *testing.T, p []byte) {
		if h, m, err := decodeData(p); err == nil {
			var again []byte
			switch m.kind {
			case kindBroadcast:
				again = encodeBroadcast(nil, string(h.origin), m.channel, m.except, m.frame)
			case kindDirect:
				again = encodeDirect(nil, string(h.origin), m.user, m.frame)
			}
			_, m2, err := decodeData(again)
			if err != nil || m2.channel != m.channel || m2.user != m.user || !bytes.Equal(m2.frame, m.frame) || len(m2.except) != len(m.except) {
				t.Fatalf("data round trip changed the message: %v", err)
			}
		}
		if m, err := decodeRoster(p); err == nil {
			switch m.kind {
			case kindChunk:
				if m.index >= m.total || m.total > maxChunks {
					t.Fatalf("accepted chunk %d of %d", m.index, m.total)
				}
				for _, mem := range m.chunk {
					if mem.SessionID == "" {
						t.Fatal("accepted a member without session id")
					}
				}
			case kindDeltas:
				if len(m.ops) == 0 || m.seq == 0 {
					t.Fatal("accepted an empty delta batch")
				}
				for _, d := range m.ops {
					if d.op < hub.OpJoin || d.op > hub.OpLeave {
						t.Fatalf("accepted op %d", d.op)
					}
				}
			}
		}
	})
}

// BenchmarkDecodeBroadcast measures the receive-path decoding of one
// broadcast: header, echo check, channel and except list, frame slice.
func BenchmarkDecodeBroadcast(b *testing.B) {
	frame := []byte(`{"type":"chat.message","payload":{"text":"hello, world"}}`)
	p := encodeBroadcast(nil, "0123456789abcdef0123456789abcdef", "lobby", nil, frame)
	b.ReportAllocs()
	for range b.N {
		h, d, err := decodeDataHeader(p)
		if err != nil || string(h.origin) == "self" {
			b.Fatal(err)
		}
		m, err := decodeDataBody(h.kind, d)
		if err != nil || len(m.frame) != len(frame) {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeBroadcast measures building a broadcast envelope in a pooled buffer.
func BenchmarkEncodeBroadcast(b *testing.B) {
	frame := []byte(`{"type":"chat.message","payload":{"text":"hello, world"}}`)
	b.ReportAllocs()
	for range b.N {
		bp := getBuf()
		*bp = encodeBroadcast((*bp)[:0], "0123456789abcdef0123456789abcdef", "lobby", []string{"s1"}, frame)
		putBuf(bp)
	}
}
