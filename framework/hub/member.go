package hub

import "encoding/json"

// Member is one joined session in the roster of a namespace.
//
// A Member is immutable once it is handed to the hub: updates replace the
// whole value, so readers may keep a Member without copying it.
type Member struct {
	// Namespace is the WebSocket path the session is connected to, e.g. "/ws/chat".
	Namespace string `json:"ns"`
	// SessionID is unique cluster-wide.
	SessionID string `json:"sessionId"`
	// UserID is the identity the session acts as; several sessions may share it.
	UserID string `json:"userId"`
	// Channels are the sub-channels the session receives broadcasts for.
	Channels []string `json:"channels,omitempty"`
	// Metadata is the member's presence metadata, already encoded as a JSON object.
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// Op is a kind of roster change.
type Op uint8

// The roster changes a hub reports and accepts.
const (
	OpJoin Op = iota + 1
	OpUpdate
	OpLeave
)

// String returns the name used in presence frames: "join", "update" or "leave".
func (o Op) String() string {
	switch o {
	case OpJoin:
		return "join"
	case OpUpdate:
		return "update"
	case OpLeave:
		return "leave"
	}
	return "unknown"
}

// Event is one change of the roster, local or from another instance.
type Event struct {
	Op     Op
	Member Member
	// Remote is true when the change happened on another instance.
	Remote bool
}

// Outbound receives what happens on this instance so it can be reported to
// the other instances. The NATS cluster implements it; a hub without an
// Outbound is a single-instance hub.
//
// Every method must return quickly and must not call back into the hub.
type Outbound interface {
	// PublishBroadcast reports a broadcast that was delivered locally.
	// frame is the encoded client frame; it must not be modified or retained
	// after the call returns unless copied.
	PublishBroadcast(ns, channel string, except []string, frame []byte)
	// PublishDirect reports a message for every session of userID, in every
	// namespace of the app.
	PublishDirect(userID string, frame []byte)
	// MemberChanged reports a join, update or leave of a local member.
	MemberChanged(op Op, m Member)
	// Interest reports that this instance gained its first (on=true) or lost
	// its last (on=false) connection on namespace ns.
	Interest(ns string, on bool)
}
