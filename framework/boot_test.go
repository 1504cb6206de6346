package mega_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/config"
	"github.com/megaframework/mega/framework/megatest"
)

func chatApp(env *mega.Env) (*mega.App, error) {
	app := env.NewApp()
	app.Channel("/ws/chat", newChat(), mega.WithAuth(auth), mega.WithPresenceEvents())
	return app, nil
}

var testApps = mega.Apps{"main": chatApp}

func TestBootEmbeddedServesAndShutsDown(t *testing.T) {
	is := is.New(t)
	cfg, err := config.Parse([]byte(`
server: { addr: "127.0.0.1:0", shutdownTimeout: 5s }
logger: { level: warn }
services: { buses: { main: { driver: nats, url: embedded } } }
wsCluster: { bus: main, roster: { driver: nats, ttl: 2s } }
`), os.LookupEnv)
	is.NoErr(err)
	inst, err := mega.Boot(context.Background(), cfg, testApps)
	is.NoErr(err)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(inst.URL() + path)
		is.NoErr(err)
		resp.Body.Close()
		is.Equal(resp.StatusCode, http.StatusOK) // path
	}
	srv := &megatest.Server{URL: inst.URL(), App: inst.App("main"), Instance: inst}
	c := srv.Dial(t, "/ws/chat?name=ann")
	c.Expect(t, "welcome")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	is.NoErr(inst.Shutdown(ctx))
	is.Equal(c.ExpectClose(t), mega.CloseGoingAway)
	_, err = http.Get(inst.URL() + "/healthz")
	is.True(err != nil) // no longer listening
}

func TestTwoInstancesShareBroadcastsDirectsAndPresence(t *testing.T) {
	is := is.New(t)
	nodes := megatest.BootCluster(t, 2, testApps, "")
	ann, _ := dial(t, nodes[0], "name=ann")
	bob, wb := dial(t, nodes[1], "name=bob")
	var joined mega.Member
	joined = ann.ExpectPresence(t, "join")
	is.Equal(joined.SessionID, wb.SessionID) // bob's join crossed to ann's instance

	bob2, _ := dial(t, nodes[0], "name=bob") // bob's second tab, on ann's instance
	ann.ExpectPresence(t, "join")

	ann.Push(t, "send", map[string]string{"text": "hello"})
	for _, c := range []*megatest.Client{ann, bob, bob2} {
		var got sendIn
		c.Expect(t, "said").Decode(t, &got)
		is.Equal(got.Text, "hello")
	}
	ann.Push(t, "whisper", map[string]string{"To": "bob", "Text": "psst"})
	bob.Expect(t, "whispered")
	bob2.Expect(t, "whispered")

	// The roster is cluster-wide on both instances.
	for _, c := range []*megatest.Client{ann, bob} {
		c.PushRef(t, "roster", nil, "r")
		var list []mega.Member
		c.Expect(t, "roster").Decode(t, &list)
		is.Equal(len(list), 3)
	}
	// Exactly once: nothing more arrived after the replies above.
	for _, c := range []*megatest.Client{ann, bob, bob2} {
		is.Equal(c.Count("said"), 0)
		is.Equal(c.Count("whispered"), 0)
	}

	bob.Close()
	var left mega.Member
	left = ann.ExpectPresence(t, "leave")
	is.Equal(left.SessionID, wb.SessionID)
}

func TestGracefulStopRemovesMembersAtOnce(t *testing.T) {
	is := is.New(t)
	// A long TTL: only the graceful goodbye can explain a prompt leave.
	nodes := megatest.BootCluster(t, 2, testApps, `wsCluster: { bus: main, roster: { driver: nats, ttl: 60s } }
services: { buses: { main: { driver: nats, url: embedded } } }`)
	ann, _ := dial(t, nodes[0], "name=ann")
	dial(t, nodes[1], "name=bob")
	ann.ExpectPresence(t, "join")

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	is.NoErr(nodes[1].Instance.Shutdown(ctx))
	ann.ExpectPresence(t, "leave")
	is.True(time.Since(start) < 30*time.Second) // far below the 60 s TTL
}

func TestRunRejectsBadConfigWithEveryProblem(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "mega.yaml")
	is.NoErr(os.WriteFile(path, []byte(`
apps: [main, blog]
wsCluster: { bus: x, roster: { driver: redis } }
`), 0o600))
	err := mega.Run(context.Background(), []string{"--config", path}, testApps)
	is.True(err != nil)
	is.True(errors.Is(err, config.ErrInvalid))
	for _, want := range []string{`wsCluster.bus: no bus "x"`, `wsCluster.roster.driver: must be "nats" or "none", got "redis"`} {
		is.True(strings.Contains(err.Error(), want)) // every problem reported at once
	}

	is.NoErr(os.WriteFile(path, []byte("apps: [main, blog]\n"), 0o600))
	err = mega.Run(context.Background(), []string{"--config", path}, testApps)
	is.True(err != nil && strings.Contains(err.Error(), `app "blog" is not registered`))
}

func TestSeveralAppsInOneProcess(t *testing.T) {
	is := is.New(t)
	apps := mega.Apps{"main": chatApp, "admin": chatApp}
	nodes := megatest.BootCluster(t, 1, apps, "apps: [main, admin]")
	base := nodes[0].URL
	for _, path := range []string{"/healthz", "/readyz", "/main/readyz", "/admin/readyz"} {
		resp, err := http.Get(base + path)
		is.NoErr(err)
		resp.Body.Close()
		is.Equal(resp.StatusCode, http.StatusOK) // path
	}
	// Each app has its own channels and roster under its prefix.
	main := &megatest.Server{URL: base + "/main"}
	main.Dial(t, "/ws/chat?name=ann").Expect(t, "welcome")
	admin := &megatest.Server{URL: base + "/admin"}
	bob := admin.Dial(t, "/ws/chat?name=bob")
	bob.Expect(t, "welcome")
	bob.PushRef(t, "roster", nil, "r")
	var list []mega.Member
	bob.Expect(t, "roster").Decode(t, &list)
	is.Equal(len(list), 1) // ann is in main's roster, not admin's

}
