package megatest

import (
	"context"
	"net/http"
	"testing"
	"time"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/config"
	"github.com/megaframework/mega/framework/natstest"
)

// BootCluster boots n instances of apps in this process, the way
// mega.Main would boot n processes, all on one embedded NATS test server
// (with JetStream, for channels that keep history; its files go to a
// temporary directory).
// yaml is a mega.yaml (may be empty; environment variables are not read,
// so ${VAR:-default} takes its default; a wsCluster section must name a
// bus that services.buses defines, with any url); the kit then forces what a test
// needs: every instance listens on a random loopback port, the wsCluster
// bus points at the test server (a default wsCluster with a 2 s roster TTL
// is added when yaml has none) and logs are quiet. Each returned Server's
// App is the first app in the config. Instances shut down when the test ends.
func BootCluster(t testing.TB, n int, apps mega.Apps, yaml string) []*Server {
	t.Helper()
	url := natstest.URL(natstest.StartJetStream(t, ""))
	urls := make([]string, n)
	for i := range urls {
		urls[i] = url
	}
	return BootOn(t, urls, apps, yaml)
}

// BootOn is BootCluster with one NATS URL per instance, for instances
// attached to different nodes of a natstest.StartCluster.
func BootOn(t testing.TB, natsURLs []string, apps mega.Apps, yaml string) []*Server {
	t.Helper()
	out := make([]*Server, len(natsURLs))
	for i, url := range natsURLs {
		out[i] = Boot(t, url, apps, yaml)
	}
	return out
}

// Boot boots one instance of apps whose cluster bus is natsURL. See BootCluster.
func Boot(t testing.TB, natsURL string, apps mega.Apps, yaml string) *Server {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("megatest: config: %v", err)
	}
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.Logger.Level = "warn"
	if cfg.WSCluster == nil {
		cfg.WSCluster = &config.WSCluster{Bus: "main", SubjectPrefix: "mega.ws", Roster: config.Roster{Driver: "nats", TTL: 2 * time.Second}}
	}
	if cfg.Services.Buses == nil {
		cfg.Services.Buses = map[string]config.Bus{}
	}
	cfg.Services.Buses[cfg.WSCluster.Bus] = config.Bus{Driver: "nats", URL: natsURL}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inst, err := mega.Boot(ctx, cfg, apps)
	if err != nil {
		t.Fatalf("megatest: boot: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := inst.Shutdown(ctx); err != nil {
			t.Errorf("megatest: shutdown: %v", err)
		}
	})
	s := &Server{URL: inst.URL(), App: inst.App(cfg.Apps[0]), Instance: inst}
	natstest.WaitFor(t, 10*time.Second, "instance ready at "+s.URL+"/readyz", func() bool {
		resp, err := http.Get(s.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}
