package megatest_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/internal/exampletest"
	"github.com/megaframework/mega/framework/megatest"
)

// TestMain fails the package when an example leaves a goroutine behind:
// each one must shut down its app and clients before it returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newExampleT stands in for the *testing.T an Example does not get (see
// package exampletest); every example defers its Done.
func newExampleT() *exampletest.T { return exampletest.New() }

// chat is the app under test in these examples: /ws/chat?name=NAME joins
// presence as NAME, sends "welcome" and broadcasts chat.send as
// chat.message to everyone.
type chat struct{}

// OnConnect joins presence as the user of ?name= and sends "welcome".
func (chat) OnConnect(ctx *mega.Ctx) error {
	if err := ctx.Presence.Join(mega.Entry{UserID: ctx.User().ID}); err != nil {
		return err
	}
	return ctx.Send("welcome", map[string]string{"userId": ctx.User().ID})
}

// OnMessage broadcasts chat.send {text} as chat.message {from, text}.
func (chat) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	switch msg.Type {
	case "chat.send":
		var in struct{ Text string }
		if err := msg.Decode(&in); err != nil {
			return err
		}
		if in.Text == "" {
			return mega.BadRequest("text is required")
		}
		return ctx.Presence.Broadcast(mega.Broadcast{Type: "chat.message", Payload: map[string]string{"from": ctx.User().ID, "text": in.Text}})
	}
	return mega.ErrUnknownType
}

// newChatApp returns an app with chat at /ws/chat.
func newChatApp() *mega.App {
	app := mega.NewApp("main")
	app.Channel("/ws/chat", chat{}, mega.WithAuth(func(r *http.Request) (mega.User, error) {
		name := r.URL.Query().Get("name")
		if name == "" {
			return mega.User{}, mega.ErrUnauthorized
		}
		return mega.User{ID: name}, nil
	}))
	return app
}

// Start serves an app on a loopback server for the length of a test; Dial
// connects a real WebSocket client, Push sends it a message and Expect
// waits for a frame of a type. This is the package documentation's
// example, run.
func ExampleStart() {
	t := newExampleT() // in a test: the test's t
	defer t.Done()
	app := newChatApp()

	srv := megatest.Start(t, app)
	ann := srv.Dial(t, "/ws/chat?name=ann")
	ann.Expect(t, "welcome")
	ann.Push(t, "chat.send", map[string]string{"text": "hi"})
	ann.Expect(t, "chat.message")

	fmt.Println("ann got her welcome and her own chat.message")
	// Output: ann got her welcome and her own chat.message
}

// Dial fails the test when the upgrade is refused; DialErr returns the
// refusal instead, with the HTTP response.
func ExampleServer_Dial() {
	t := newExampleT()
	defer t.Done()
	srv := megatest.Start(t, newChatApp())

	ann := srv.Dial(t, "/ws/chat?name=ann")
	var w struct{ UserID string }
	ann.Expect(t, "welcome").Decode(t, &w)
	fmt.Println("welcome", w.UserID)

	_, resp, err := srv.DialErr("/ws/chat", nil)
	if err == nil {
		t.Fatalf("a connection without a name was accepted")
	}
	resp.Body.Close()
	fmt.Println("without a name:", resp.Status)
	// Output:
	// welcome ann
	// without a name: 401 Unauthorized
}

// Push encodes the payload to JSON and sends one message; PushRef adds a
// ref, which an error frame about that message carries back.
func ExampleClient_Push() {
	t := newExampleT()
	defer t.Done()
	srv := megatest.Start(t, newChatApp())
	ann := srv.Dial(t, "/ws/chat?name=ann")
	ann.Expect(t, "welcome")

	ann.Push(t, "chat.send", map[string]string{"text": "hi"})
	fmt.Printf("%s\n", ann.Expect(t, "chat.message").Payload)

	ann.PushRef(t, "chat.send", map[string]string{"text": ""}, "m2")
	f := ann.Expect(t, "error")
	fmt.Printf("%s %s\n", f.Payload, f.Ref)
	// Output:
	// {"from":"ann","text":"hi"}
	// {"code":"bad_request","message":"text is required","ref":"m2"} m2
}

// Expect waits for the first frame of a type and leaves frames of other
// types buffered, in order; Count tells how many of a type are buffered.
// ExpectWithin returns an error instead of failing the test.
func ExampleClient_Expect() {
	t := newExampleT()
	defer t.Done()
	srv := megatest.Start(t, newChatApp())
	ann := srv.Dial(t, "/ws/chat?name=ann")
	bob := srv.Dial(t, "/ws/chat?name=bob")
	ann.Expect(t, "welcome")
	bob.Expect(t, "welcome")

	bob.Push(t, "chat.send", map[string]string{"text": "one"})
	bob.Push(t, "chat.send", map[string]string{"text": "two"})
	bob.Push(t, "chat.sned", nil)
	bob.Expect(t, "error") // bob's three messages are handled, in order
	for range 2 {
		fmt.Printf("%s\n", ann.Expect(t, "chat.message").Payload)
	}
	fmt.Println("buffered chat.message:", ann.Count("chat.message"))

	_, err := ann.ExpectWithin("chat.whisper", 10*time.Millisecond)
	fmt.Println(err)
	// Output:
	// {"from":"bob","text":"one"}
	// {"from":"bob","text":"two"}
	// buffered chat.message: 0
	// expected a chat.whisper frame: timed out after 10ms; buffered: []
}
