package mega

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/matryer/is"

	"github.com/megaframework/mega/internal/testkit"
)

// stormChannel joins each connection and welcomes it, as the generated
// chat does.
type stormChannel struct{ Router }

func (*stormChannel) OnConnect(ctx *Ctx) error {
	err := ctx.Presence.Join(Entry{UserID: ctx.Request().URL.Query().Get("name")})
	if err != nil {
		return err
	}
	w, err := ctx.Presence.Welcome()
	if err != nil {
		return err
	}
	return ctx.Send("welcome", w)
}

// TestWelcomeStormIsReclaimed connects more clients than bigRoster at once
// over real sockets: the big welcomes are built through the slots, every
// client gets its welcome with itself among the members, and once the
// storm is quiet its memory is given back, and then left alone.
//
// The quiet is short here, so a slow machine (the race detector, 2 cores)
// may pause long enough inside the storm for a reclaim there too; what
// must hold is that one comes after the last welcome and none after it.
func TestWelcomeStormIsReclaimed(t *testing.T) {
	is := is.New(t)
	const clients = bigRoster + 64
	saved := stormReclaim
	r := &reclaimer{min: 1, quiet: 200 * time.Millisecond, free: func() {}}
	runs := func() int { r.mu.Lock(); defer r.mu.Unlock(); return r.runs }
	stormReclaim = r
	t.Cleanup(func() { stormReclaim = saved }) // after the app's shutdown below

	app := NewApp("storm", WithLimits(Limits{MaxConnectionsPerIP: -1, MaxConnectionsPerUser: -1}))
	app.Channel("/ws", &stormChannel{})
	srv := serveApp(t, app)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?name=u"
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []*websocket.Conn // open until the test ends, so the roster stays whole
	)
	t.Cleanup(func() {
		for _, ws := range conns {
			_ = ws.CloseNow()
		}
	})
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			ws, _, err := websocket.Dial(ctx, fmt.Sprint(url, i), nil)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			conns = append(conns, ws)
			mu.Unlock()
			ws.SetReadLimit(1 << 20)
			_, b, err := ws.Read(ctx)
			if err != nil {
				errs <- fmt.Errorf("u%d: read the welcome: %w", i, err)
				return
			}
			var f struct {
				Type    string
				Payload struct {
					UserID  string
					Members []struct{ UserID string }
				}
			}
			if err := json.Unmarshal(b, &f); err != nil || f.Type != "welcome" || f.Payload.UserID != fmt.Sprint("u", i) {
				errs <- fmt.Errorf("u%d: not its welcome (%v): %.200s", i, err, b)
				return
			}
			for _, m := range f.Payload.Members {
				if m.UserID == f.Payload.UserID {
					return
				}
			}
			errs <- fmt.Errorf("u%d: not among the %d members of its welcome", i, len(f.Payload.Members))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	is.Equal(len(app.List("/ws")), clients) // everyone is still connected

	testkit.WaitFor(t, 10*time.Second, "a reclaim after the storm's last welcome", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.runs > 0 && !r.armed && r.bytes == 0
	})
	n := runs()
	time.Sleep(5 * r.quiet)       // a reclaim with no new welcome would come within this
	is.Equal(runs(), n)           // nothing more once the storm was reclaimed
	is.Equal(len(encodeSlots), 0) // every slot was given back
}
