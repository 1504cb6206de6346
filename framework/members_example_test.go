package mega_test

import (
	"fmt"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// lounge welcomes every connection with Presence.Welcome once it joined.
type lounge struct{ mega.Router }

func (*lounge) OnConnect(ctx *mega.Ctx) error {
	if err := ctx.Presence.Join(mega.Entry{Metadata: mega.Meta{"mood": "sunny"}}); err != nil {
		return err
	}
	welcome, err := ctx.Presence.Welcome()
	if err != nil {
		return err
	}
	return ctx.Send("welcome", welcome)
}

// A welcome is the newcomer's own session and every member of the
// namespace on every instance, each as {sessionId, userId, metadata}: the
// state client.js's Presence starts from. Here bob joins after ann.
func ExamplePresence_Welcome() {
	t := newExampleT()
	defer t.Done()

	app := mega.NewApp("main")
	app.Channel("/ws/lounge", &lounge{}, mega.WithAuth(exampleUser))
	srv := megatest.Start(t, app)

	srv.Dial(t, "/ws/lounge?name=ann").Expect(t, "welcome")
	var welcome struct {
		UserID  string `json:"userId"`
		Members []struct {
			UserID   string         `json:"userId"`
			Metadata map[string]any `json:"metadata"`
		} `json:"members"`
	}
	srv.Dial(t, "/ws/lounge?name=bob").Expect(t, "welcome").Decode(t, &welcome)
	fmt.Println("bob is", welcome.UserID)
	users := map[string]any{}
	for _, m := range welcome.Members {
		users[m.UserID] = m.Metadata["mood"]
	}
	fmt.Println("members:", users)
	// Output:
	// bob is bob
	// members: map[ann:sunny bob:sunny]
}
