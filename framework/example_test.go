package mega_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// This file holds what the examples share: exampleT, a stand-in for the
// *testing.T an Example does not get, and exampleChannel, the channel of
// the Presence and App examples. The examples themselves start a real app
// on loopback with megatest, dial real WebSocket clients and print what
// those clients received, so `go test` checks every word of their output.

// exampleT stands in for *testing.T in Examples, which get none, so that
// megatest.Start and Server.Dial can be called from them. It implements
// only what megatest calls: Helper, Cleanup, Fatalf, Errorf and Logf; the
// embedded testing.TB is nil, so any other method panics. Every example
// starts with
//
//	t := newExampleT()
//	defer t.done()
//
// and done runs the cleanups, last registered first as testing does: the
// clients close, then the app shuts down and its server closes, so no
// goroutine outlives the example (TestMain checks that with goleak).
//
// Errorf and Fatalf print to standard output, where the example's
// "Output:" comment does not expect them, so a failure fails the example;
// Fatalf also stops it. Logf writes to standard error, which examples do
// not compare.
type exampleT struct {
	testing.TB
	cleanups []func()
}

// newExampleT returns an exampleT with no cleanups yet.
func newExampleT() *exampleT { return &exampleT{} }

// exampleFatal is the panic Fatalf stops an example with; done recovers it.
type exampleFatal struct{}

// Helper does nothing: example output has no file:line to improve.
func (t *exampleT) Helper() {}

// Cleanup registers f for done.
func (t *exampleT) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

// Errorf prints the failure where the example's output is compared.
func (t *exampleT) Errorf(format string, args ...any) {
	fmt.Printf("ERROR: "+format+"\n", args...)
}

// Fatalf prints the failure and stops the example; done recovers.
func (t *exampleT) Fatalf(format string, args ...any) {
	fmt.Printf("FATAL: "+format+"\n", args...)
	panic(exampleFatal{})
}

// Logf writes to standard error, which examples do not compare.
func (t *exampleT) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// done runs the cleanups, last first, and ends a Fatalf. It must be
// deferred directly (defer t.done()) for its recover to work.
func (t *exampleT) done() {
	r := recover()
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
	if _, fatal := r.(exampleFatal); r != nil && !fatal {
		panic(r)
	}
}

// exampleChannel is the channel of the Presence and App examples. OnConnect
// joins presence as the user the auth hook found, in the sub-channel named
// by ?room= (default "lobby") with metadata {"room": room}, and sends the
// connection a "welcome" frame: a client that has it knows it has joined.
// It answers "ping" with "pong" (see exampleSync); other messages go to
// the example's router.
type exampleChannel struct{ r *mega.Router }

// OnConnect joins presence in the room's sub-channel and sends "welcome".
func (c exampleChannel) OnConnect(ctx *mega.Ctx) error {
	room := exampleRoom(ctx)
	err := ctx.Presence.Join(mega.Entry{
		UserID:   ctx.User().ID,
		Channels: []string{room},
		Metadata: mega.Meta{"room": room},
	})
	if err != nil {
		return err
	}
	return ctx.Send("welcome", nil)
}

// OnMessage answers "ping" and hands other messages to the router.
func (c exampleChannel) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	switch {
	case msg.Type == "ping":
		return ctx.Reply(msg, "pong", nil)
	case c.r == nil:
		return mega.ErrUnknownType
	}
	return c.r.Dispatch(ctx, msg)
}

// exampleRoom is the room a connection asked for with ?room=.
func exampleRoom(ctx *mega.Ctx) string {
	if room := ctx.Request().URL.Query().Get("room"); room != "" {
		return room
	}
	return "lobby"
}

// exampleUser is the examples' auth hook: the user is ?name=. That is an
// identity, not authentication: a real app checks a cookie or a token.
func exampleUser(r *http.Request) (mega.User, error) {
	name := r.URL.Query().Get("name")
	if name == "" {
		return mega.User{}, mega.ErrUnauthorized
	}
	return mega.User{ID: name}, nil
}

// exampleDial connects to path and waits for the welcome: the connection
// has joined presence when it returns.
func exampleDial(t *exampleT, srv *megatest.Server, path string) *megatest.Client {
	c := srv.Dial(t, path)
	c.Expect(t, "welcome")
	return c
}

// exampleSync pushes a ping and waits for the pong. A connection's
// messages are handled in order, so the server has handled everything c
// sent before, and the local deliveries those handlers made are queued.
func exampleSync(t *exampleT, c *megatest.Client) {
	c.Push(t, "ping", nil)
	c.Expect(t, "pong")
}

// exampleFence broadcasts a "fence" frame to namespace ns and waits until
// each client has it. Frames to one connection keep their order, so a
// client has by then everything sent to it before the fence: what it has
// not got, it will not get.
func exampleFence(t *exampleT, app *mega.App, ns string, clients ...*megatest.Client) {
	if err := app.Broadcast(ns, mega.Broadcast{Type: "fence"}); err != nil {
		t.Fatalf("fence: %v", err)
	}
	for _, c := range clients {
		c.Expect(t, "fence")
	}
}

// exampleReceived takes every buffered frame of the given types from c and
// describes them, type by type, e.g. `said "hi", shouted "dinner"`, or
// "nothing".
func exampleReceived(t *exampleT, c *megatest.Client, types ...string) string {
	var out []string
	for _, typ := range types {
		for range c.Count(typ) {
			f := c.Expect(t, typ)
			out = append(out, typ+" "+string(f.Payload))
		}
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}

// exampleMember is a member as presence frames encode it.
type exampleMember struct {
	UserID   string          `json:"userId"`
	Metadata json.RawMessage `json:"metadata"`
}

// An app mounts channels at namespaces; the auth hook decides who the user
// is before the upgrade. A request it refuses never becomes a WebSocket.
func ExampleApp_Channel() {
	t := newExampleT()
	defer t.done()

	app := mega.NewApp("main")
	app.Channel("/ws/lobby", exampleChannel{},
		mega.WithAuth(func(r *http.Request) (mega.User, error) {
			name := r.URL.Query().Get("name")
			if name == "" {
				return mega.User{}, mega.ErrUnauthorized
			}
			return mega.User{ID: name}, nil
		}),
		mega.WithPresenceEvents(),
	)
	srv := megatest.Start(t, app)

	exampleDial(t, srv, "/ws/lobby?name=ann")
	fmt.Println("ann joined")

	_, resp, err := srv.DialErr("/ws/lobby", nil)
	if err == nil {
		t.Fatalf("a connection without a name was accepted")
	}
	resp.Body.Close()
	fmt.Println("without a name:", resp.Status)
	// Output:
	// ann joined
	// without a name: 401 Unauthorized
}

type chatSend struct {
	Text string `json:"text"`
}

// A Router dispatches messages by type to handlers with typed payloads;
// unknown types and payloads that do not decode become error frames.
func ExampleHandle() {
	r := mega.NewRouter()
	mega.Handle(r, "chat.send", func(ctx *mega.Ctx, in chatSend) error {
		if in.Text == "" {
			return mega.BadRequest("text is required")
		}
		return ctx.Presence.Broadcast(mega.Broadcast{Type: "chat.message", Payload: in})
	})
	fmt.Println(r.Dispatch(nil, mega.Message{Type: "chat.leave"}))
	// Output: unknown_type: unknown message type
}

// A process serves the apps listed in mega.yaml; Main is the whole body of
// an app's main function. (Not run: Main serves until it is stopped.)
func ExampleMain() {
	newApp := func(env *mega.Env) (*mega.App, error) {
		app := env.NewApp()
		app.Channel("/ws/lobby", exampleChannel{}, mega.WithAuth(exampleUser))
		return app, nil
	}
	_ = mega.Apps{"main": newApp} // in main(): mega.Main(mega.Apps{"main": newApp})
}
