package mega

import "fmt"

// Router dispatches messages by type to handlers with typed payloads. Use
// it from a channel's OnMessage:
//
//	r := mega.NewRouter()
//	mega.Handle(r, "chat.send", func(ctx *mega.Ctx, in ChatSend) error { ... })
//	func (c Chat) OnMessage(ctx *mega.Ctx, msg mega.Message) error { return c.r.Dispatch(ctx, msg) }
//
// A Router is built at start-up and read-only afterwards.
type Router struct {
	handlers map[string]func(*Ctx, Message) error
}

// NewRouter returns an empty Router.
func NewRouter() *Router { return &Router{handlers: make(map[string]func(*Ctx, Message) error)} }

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
	r.handlers[typ] = fn
}

// Dispatch runs the handler for msg.Type, or returns ErrUnknownType.
func (r *Router) Dispatch(ctx *Ctx, msg Message) error {
	fn, ok := r.handlers[msg.Type]
	if !ok {
		return ErrUnknownType
	}
	return fn(ctx, msg)
}
