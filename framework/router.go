package mega

import (
	"fmt"
	"maps"
	"slices"
)

// Router dispatches messages by type to handlers with typed payloads. The
// zero Router is ready to use, and its OnMessage method lets a channel
// embed it instead of writing one:
//
//	type Chat struct{ mega.Router }
//
//	func newChat() *Chat {
//		c := &Chat{}
//		mega.Handle(&c.Router, "chat.send", c.send)
//		return c
//	}
//
// *Chat then has OnMessage, and needs only OnConnect to be a Channel.
// A Router is built at start-up and read-only afterwards.
type Router struct {
	handlers map[string]func(*Ctx, Message) error
}

// NewRouter returns an empty Router, the same as new(Router).
func NewRouter() *Router { return new(Router) }

// Handle registers fn for messages of type typ. The payload is decoded into
// a T; a payload that does not decode never reaches fn: the client gets a
// bad_request error frame. Registering a type twice panics.
func Handle[T any](r *Router, typ string, fn func(ctx *Ctx, payload T) error) {
	HandleMessage(r, typ, func(ctx *Ctx, msg Message) error {
		var v T
		if err := msg.Decode(&v); err != nil {
			return err
		}
		return fn(ctx, v)
	})
}

// HandleMessage registers fn for messages of type typ with the raw message,
// for handlers that need the ref or take no payload.
func HandleMessage(r *Router, typ string, fn func(ctx *Ctx, msg Message) error) {
	if _, dup := r.handlers[typ]; dup {
		panic(fmt.Sprintf("mega: Router: a handler for %q is already registered", typ))
	}
	if r.handlers == nil {
		r.handlers = make(map[string]func(*Ctx, Message) error)
	}
	r.handlers[typ] = fn
}

// OnMessage is Dispatch, so that a channel embedding a Router has the
// OnMessage of the Channel interface.
func (r *Router) OnMessage(ctx *Ctx, msg Message) error { return r.Dispatch(ctx, msg) }

// Dispatch runs the handler for msg.Type, or returns ErrUnknownType.
func (r *Router) Dispatch(ctx *Ctx, msg Message) error {
	fn, ok := r.handlers[msg.Type]
	if !ok {
		return ErrUnknownType
	}
	return fn(ctx, msg)
}

// messageTypes returns the types registered on r, sorted; `routes` lists
// them (routes.go).
func (r *Router) messageTypes() []string {
	return slices.Sorted(maps.Keys(r.handlers))
}
