package mega

// Channel handles the WebSocket connections of one namespace. The framework
// calls OnConnect once per connection, then OnMessage for each message in
// the order they arrive (never concurrently for one connection).
//
// OnConnect returning an error rejects the connection: it is closed with
// the code of a CloseError (default 1008, policy violation) and the error's
// text as reason when it is an *Error or *CloseError. OnMessage returning an
// error sends the client an error frame carrying the message's ref; the
// connection stays open.
//
// A channel that wraps another to add behaviour may define
// Unwrap() Channel returning the wrapped one; `mega routes` then lists the
// message types of the wrapped channel's Router.
type Channel interface {
	OnConnect(ctx *Ctx) error
	OnMessage(ctx *Ctx, msg Message) error
}

// Disconnecter is implemented by channels that want to know when a
// connection ends. OnDisconnect runs before the connection's member leaves
// the roster, except for a slow client, which is removed from the roster the
// moment it is cut; reason is nil for a normal close.
type Disconnecter interface {
	OnDisconnect(ctx *Ctx, reason error)
}

// PresenceListener is implemented by channels that want every presence
// change of their namespace, local or from another instance. OnPresence
// runs once per change on each instance (not once per connection) and must
// not block.
type PresenceListener interface {
	OnPresence(ev PresenceEvent)
}

// CloseError asks the framework to close a connection with a specific
// WebSocket close code. Return it from OnConnect, or pass its fields to
// Ctx.Close.
type CloseError struct {
	// Code is a WebSocket close code: 1000–1015 or an application code 4000–4999.
	Code int
	// Reason is sent to the client; it is cut to 123 bytes.
	Reason string
}

// Error implements the error interface.
func (e *CloseError) Error() string { return "mega: close " + itoa(e.Code) + ": " + e.Reason }

// Close codes the framework uses.
const (
	// CloseNormal is a normal close.
	CloseNormal = 1000
	// CloseGoingAway is sent when the server shuts down.
	CloseGoingAway = 1001
	// ClosePolicyViolation rejects a connection in OnConnect by default.
	ClosePolicyViolation = 1008
	// CloseTooBig is sent when a frame exceeds the read limit.
	CloseTooBig = 1009
	// CloseInternal is sent when OnConnect panics.
	CloseInternal = 1011
	// CloseSlowClient is sent when a client's send queue is full: it does not
	// read fast enough and is disconnected so it cannot delay anyone else.
	CloseSlowClient = 4008
	// CloseRateLimited is sent when a client sends more messages per second
	// than the limit allows.
	CloseRateLimited = 4029
)

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
