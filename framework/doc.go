// Package mega is a framework for realtime web apps: WebSocket channels with
// cluster-wide presence, fanned out over NATS.
//
// An app mounts channels at namespaces (WebSocket paths). A channel is a
// struct with OnConnect and OnMessage (and optionally OnDisconnect); every
// callback gets a *Ctx whose Presence is bound to that connection and
// namespace:
//
//	type Chat struct{}
//
//	func (Chat) OnConnect(ctx *mega.Ctx) error {
//		return ctx.Presence.Join(mega.Entry{Metadata: mega.Meta{"room": "lobby"}})
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
//	app := mega.NewApp("main")
//	app.Channel("/ws/chat", Chat{}, mega.WithAuth(auth), mega.WithPresenceEvents())
//
// Frames are JSON text: {"type": "...", "payload": ..., "ref": "..."}. A
// broadcast is encoded once and the same bytes go to every recipient; the
// local hub delivers it, then the cluster (wired by the boot stage from
// mega.yaml) publishes it once to NATS for the other instances.
//
// Every connection is bounded by Limits: frame size, send queue bytes
// (slow clients are closed with 4008 and never delay others), keepalive
// pings, a message rate, presence metadata size and sub-channel count.
package mega
