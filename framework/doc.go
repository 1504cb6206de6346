// Package mega is a framework for realtime web apps: WebSocket channels with
// cluster-wide presence, fanned out over NATS.
//
// An app mounts channels at namespaces (WebSocket paths). A channel is a
// struct with OnConnect and OnMessage (and optionally OnDisconnect); every
// callback gets a *Ctx whose Presence is bound to that connection and
// namespace. This one joins every connection to the "lobby" sub-channel
// and broadcasts chat messages to it; a broadcast to a sub-channel reaches
// only the connections that joined it (Entry.Channels), and a broadcast
// without a Channel reaches the whole namespace:
//
//	type Chat struct{}
//
//	func (Chat) OnConnect(ctx *mega.Ctx) error {
//		err := ctx.Presence.Join(mega.Entry{
//			UserID:   ctx.User().ID, // from the auth hook, never from the client
//			Channels: []string{"lobby"},
//			Metadata: mega.Meta{"room": "lobby"},
//		})
//		if err != nil {
//			return err
//		}
//		return ctx.Send("welcome", ctx.Presence.List())
//	}
//
//	func (Chat) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
//		switch msg.Type {
//		case "chat.send":
//			return ctx.Presence.Broadcast(mega.Broadcast{Channel: "lobby", Type: "chat.message", Payload: msg.Payload})
//		}
//		return mega.ErrUnknownType
//	}
//
// Presence needs a user id, and it must come from the server: an auth hook
// ([WithAuth]) runs before the WebSocket upgrade and says who the user is,
// from a cookie, a token or, as here, a name. A name in the URL is an
// identity, not authentication; check a session or a token in a real app.
// Without a hook connections are anonymous, Join fails without an explicit
// UserID, and a connection whose OnConnect fails is closed with 1008.
//
//	app := mega.NewApp("main")
//	app.Channel("/ws/chat", Chat{}, mega.WithAuth(func(r *http.Request) (mega.User, error) {
//		name := r.URL.Query().Get("name")
//		if name == "" {
//			return mega.User{}, mega.ErrUnauthorized
//		}
//		return mega.User{ID: name}, nil
//	}), mega.WithPresenceEvents())
//
// Outside a connection (a REST handler, a background job) the App has the
// same surface, callable from any goroutine: [App.Broadcast],
// [App.DirectToUser] (every session of a user, in every namespace of the app,
// on every instance) and [App.List] (the cluster-wide roster, a copy the
// caller owns).
//
// Frames are JSON text: {"type": "...", "payload": ..., "ref": "..."}. A
// broadcast is encoded once and the same bytes go to every recipient; the
// local hub delivers it, then the cluster (wired by the boot stage from
// mega.yaml) publishes it once to NATS for the other instances.
//
// Every connection is bounded by [Limits]: frame size, send queue bytes
// (slow clients are closed with 4008 and never delay others), keepalive
// pings, a message rate, presence metadata size and sub-channel count.
//
// Package [github.com/megaframework/mega/framework/megatest] tests an app
// the way clients use it: a real server on
// loopback, real WebSocket clients, frames expected with deadlines. The
// examples of this package are written with it and run by go test.
package mega
