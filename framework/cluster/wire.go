package cluster

import (
	"encoding/binary"
	"errors"
	"sync"

	"github.com/megaframework/mega/framework/hub"
)

// Wire format.
//
// Every message the cluster publishes starts with the same header:
//
//	version  byte   (wireVersion)
//	kind     byte   (one of the kind constants)
//	origin   byte length + bytes (the sender's instance id)
//
// followed by a body that depends on the kind. Integers are unsigned varints
// (encoding/binary), strings and byte strings are a varint length followed by
// the bytes. Nothing is JSON: the receive path of broadcasts only slices the
// payload, and the client frame travels untouched as the tail of the message.

const wireVersion = 1

// kind is the type of a cluster message.
type kind byte

const (
	// Data messages: broadcasts on the namespace subject, directs on the direct subject.
	kindBroadcast kind = 'b' // channel, except list, frame (rest)
	kindDirect    kind = 'd' // user id, frame (rest)

	// Roster messages, on the roster subject unless noted.
	kindHeartbeat kind = 'h' // seq, member count
	kindDeltas    kind = 'u' // first seq, n, n × (op byte, member)
	kindBye       kind = 'x' // (empty): the sender stopped, drop its members
	kindSync      kind = 's' // request id; reply subject gets an ack, then the sender's state in chunks
	kindSyncAck   kind = 'a' // request id, seq, member count: "state follows" (none when count is 0)
	kindPing      kind = 'p' // request id; reply subject gets a heartbeat
	kindStateReq  kind = 'r' // request id; on the per-instance state subject
	kindChunk     kind = 'c' // request id, snapshot seq, index, total, n, n × member; on a reply subject
)

// Size limits. Every message the cluster sends itself stays under
// hardMessageLimit; chunks and delta batches aim for chunkTarget.
const (
	chunkTarget      = 32 << 10
	hardMessageLimit = 64 << 10
	// maxMemberBytes bounds one encoded member so that a chunk holding a
	// single member still fits under hardMessageLimit with its header.
	maxMemberBytes = 48 << 10
	// maxChunks bounds the number of chunks a snapshot may claim, so a bad
	// message cannot make the receiver allocate without limit.
	maxChunks = 1 << 16
)

// errMalformed is returned by the decoders for any payload they reject.
var errMalformed = errors.New("cluster: malformed message")

// appendHeader appends the common message header.
func appendHeader(b []byte, k kind, origin string) []byte {
	b = append(b, wireVersion, byte(k), byte(len(origin)))
	return append(b, origin...)
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// appendMember encodes a member: ns, session id, user id, channels, metadata.
func appendMember(b []byte, m *hub.Member) []byte {
	b = appendString(b, m.Namespace)
	b = appendString(b, m.SessionID)
	b = appendString(b, m.UserID)
	b = appendUvarint(b, uint64(len(m.Channels)))
	for _, ch := range m.Channels {
		b = appendString(b, ch)
	}
	return appendBytes(b, m.Metadata)
}

// memberSize is an upper bound of the encoded size of m.
func memberSize(m *hub.Member) int {
	n := 5*binary.MaxVarintLen32 + len(m.Namespace) + len(m.SessionID) + len(m.UserID) + len(m.Metadata)
	for _, ch := range m.Channels {
		n += binary.MaxVarintLen32 + len(ch)
	}
	return n
}

// dec reads a payload front to back. The first failure sticks: later reads
// return zero values and bad reports true.
type dec struct {
	b   []byte
	bad bool
}

func (d *dec) byte() byte {
	if d.bad || len(d.b) < 1 {
		d.bad = true
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) uvarint() uint64 {
	if d.bad {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a element count and rejects counts that cannot fit in the
// rest of the payload (every element takes at least minSize bytes).
func (d *dec) count(minSize int) int {
	v := d.uvarint()
	if d.bad || v > uint64(len(d.b)/minSize) {
		d.bad = true
		return 0
	}
	return int(v)
}

// bytes returns a length-prefixed byte string as a sub-slice of the payload.
func (d *dec) bytes() []byte {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) string() string {
	p := d.bytes()
	if len(p) == 0 {
		return ""
	}
	return string(p)
}

func (d *dec) member() hub.Member {
	var m hub.Member
	m.Namespace = d.string()
	m.SessionID = d.string()
	m.UserID = d.string()
	if m.SessionID == "" {
		d.bad = true
	}
	if n := d.count(1); n > 0 {
		m.Channels = make([]string, n)
		for i := range m.Channels {
			m.Channels[i] = d.string()
		}
	}
	if md := d.bytes(); len(md) > 0 {
		// Copy: members live in the roster for long, and must not pin the
		// whole (up to 64 KB) message they arrived in.
		m.Metadata = append([]byte(nil), md...)
	}
	return m
}

// header is the decoded common header. origin is a sub-slice of the payload.
type header struct {
	kind   kind
	origin []byte
}

func (d *dec) header() header {
	var h header
	if v := d.byte(); v != wireVersion {
		d.bad = true
		return h
	}
	h.kind = kind(d.byte())
	n := int(d.byte())
	if d.bad || n == 0 || n > len(d.b) {
		d.bad = true
		return h
	}
	h.origin = d.b[:n:n]
	d.b = d.b[n:]
	return h
}

// dataMsg is a decoded broadcast or direct message. frame is a sub-slice of
// the payload.
type dataMsg struct {
	kind    kind
	channel string
	except  []string
	user    string
	frame   []byte
}

// decodeDataHeader decodes the header of a data message, so the caller can
// skip its own echo before paying for the body.
func decodeDataHeader(p []byte) (header, dec, error) {
	d := dec{b: p}
	h := d.header()
	if d.bad || (h.kind != kindBroadcast && h.kind != kindDirect) {
		return h, d, errMalformed
	}
	return h, d, nil
}

// decodeDataBody decodes the body of a data message whose header d has read.
func decodeDataBody(k kind, d dec) (dataMsg, error) {
	m := dataMsg{kind: k}
	switch k {
	case kindBroadcast:
		m.channel = d.string()
		if n := d.count(1); n > 0 {
			m.except = make([]string, n)
			for i := range m.except {
				m.except[i] = d.string()
			}
		}
	case kindDirect:
		m.user = d.string()
	default:
		return m, errMalformed
	}
	if d.bad {
		return m, errMalformed
	}
	m.frame = d.b
	return m, nil
}

// decodeData decodes a whole data message (used by tests and the fuzz target).
func decodeData(p []byte) (header, dataMsg, error) {
	h, d, err := decodeDataHeader(p)
	if err != nil {
		return h, dataMsg{}, err
	}
	m, err := decodeDataBody(h.kind, d)
	return h, m, err
}

// encodeBroadcast appends a broadcast message to b.
func encodeBroadcast(b []byte, origin, channel string, except []string, frame []byte) []byte {
	b = appendHeader(b, kindBroadcast, origin)
	b = appendString(b, channel)
	b = appendUvarint(b, uint64(len(except)))
	for _, e := range except {
		b = appendString(b, e)
	}
	return append(b, frame...)
}

// encodeDirect appends a direct message to b.
func encodeDirect(b []byte, origin, user string, frame []byte) []byte {
	b = appendHeader(b, kindDirect, origin)
	b = appendString(b, user)
	return append(b, frame...)
}

// delta is one local roster change with the sequence number it got.
type delta struct {
	seq uint64
	op  hub.Op
	m   hub.Member
}

// rosterMsg is a decoded roster message. Which fields are set depends on kind.
type rosterMsg struct {
	kind   kind
	origin string
	seq    uint64 // heartbeat, sync ack: seq; deltas: first seq; chunk: snapshot seq
	count  uint64 // heartbeat, sync ack: member count
	reqID  uint64 // sync, ping, state request, chunk
	index  int    // chunk
	total  int    // chunk
	ops    []delta
	chunk  []hub.Member
}

// decodeRoster decodes any roster message. It never panics and rejects
// anything that is not exactly a well-formed message.
func decodeRoster(p []byte) (rosterMsg, error) {
	d := dec{b: p}
	h := d.header()
	if d.bad {
		return rosterMsg{}, errMalformed
	}
	m := rosterMsg{kind: h.kind, origin: string(h.origin)}
	switch h.kind {
	case kindHeartbeat:
		m.seq = d.uvarint()
		m.count = d.uvarint()
	case kindSyncAck:
		m.reqID = d.uvarint()
		m.seq = d.uvarint()
		m.count = d.uvarint()
	case kindDeltas:
		m.seq = d.uvarint()
		n := d.count(4) // op + three empty strings at least
		if n == 0 || m.seq == 0 {
			d.bad = true
			break
		}
		m.ops = make([]delta, n)
		for i := range m.ops {
			op := hub.Op(d.byte())
			if op != hub.OpJoin && op != hub.OpUpdate && op != hub.OpLeave {
				d.bad = true
				break
			}
			m.ops[i] = delta{seq: m.seq + uint64(i), op: op, m: d.member()}
		}
	case kindBye:
	case kindSync, kindPing, kindStateReq:
		m.reqID = d.uvarint()
	case kindChunk:
		m.reqID = d.uvarint()
		m.seq = d.uvarint()
		idx, total := d.uvarint(), d.uvarint()
		if total == 0 || total > maxChunks || idx >= total {
			d.bad = true
			break
		}
		m.index, m.total = int(idx), int(total)
		if n := d.count(5); n > 0 {
			m.chunk = make([]hub.Member, n)
			for i := range m.chunk {
				m.chunk[i] = d.member()
			}
		}
	default:
		d.bad = true
	}
	if d.bad || len(d.b) != 0 {
		return rosterMsg{}, errMalformed
	}
	return m, nil
}

func encodeHeartbeat(b []byte, origin string, seq uint64, count int) []byte {
	b = appendHeader(b, kindHeartbeat, origin)
	b = appendUvarint(b, seq)
	return appendUvarint(b, uint64(count))
}

func encodeSyncAck(b []byte, origin string, reqID, seq uint64, count int) []byte {
	b = appendHeader(b, kindSyncAck, origin)
	b = appendUvarint(b, reqID)
	b = appendUvarint(b, seq)
	return appendUvarint(b, uint64(count))
}

func encodeRequest(b []byte, k kind, origin string, reqID uint64) []byte {
	b = appendHeader(b, k, origin)
	return appendUvarint(b, reqID)
}

func encodeBye(b []byte, origin string) []byte { return appendHeader(b, kindBye, origin) }

// encodeDeltas splits ds into delta-batch messages of about chunkTarget
// bytes and calls emit for each. The buffer passed to emit is reused.
func encodeDeltas(origin string, ds []delta, emit func([]byte)) {
	var body []byte
	first, n := uint64(0), 0
	flush := func() {
		if n == 0 {
			return
		}
		msg := make([]byte, 0, len(body)+len(origin)+32)
		msg = appendHeader(msg, kindDeltas, origin)
		msg = appendUvarint(msg, first)
		msg = appendUvarint(msg, uint64(n))
		msg = append(msg, body...)
		emit(msg)
		body, n = body[:0], 0
	}
	for i := range ds {
		if n > 0 && len(body)+memberSize(&ds[i].m)+1 > chunkTarget {
			flush()
		}
		if n == 0 {
			first = ds[i].seq
		}
		body = append(body, byte(ds[i].op))
		body = appendMember(body, &ds[i].m)
		n++
	}
	flush()
}

// encodeChunks splits a snapshot into chunk messages of about chunkTarget
// bytes each and returns them. An empty snapshot is one empty chunk.
func encodeChunks(origin string, reqID, seq uint64, ms []hub.Member) [][]byte {
	type part struct {
		n    int
		body []byte
	}
	parts := []part{{}}
	for i := range ms {
		p := &parts[len(parts)-1]
		if p.n > 0 && len(p.body)+memberSize(&ms[i]) > chunkTarget {
			parts = append(parts, part{})
			p = &parts[len(parts)-1]
		}
		p.body = appendMember(p.body, &ms[i])
		p.n++
	}
	out := make([][]byte, len(parts))
	for i, p := range parts {
		b := make([]byte, 0, len(p.body)+len(origin)+48)
		b = appendHeader(b, kindChunk, origin)
		b = appendUvarint(b, reqID)
		b = appendUvarint(b, seq)
		b = appendUvarint(b, uint64(i))
		b = appendUvarint(b, uint64(len(parts)))
		b = appendUvarint(b, uint64(p.n))
		out[i] = append(b, p.body...)
	}
	return out
}

// bufPool holds buffers for encoding data messages; nats.Conn.Publish copies
// the payload, so a buffer can be reused as soon as Publish returns.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(p *[]byte) {
	if cap(*p) > hardMessageLimit {
		return
	}
	*p = (*p)[:0]
	bufPool.Put(p)
}
