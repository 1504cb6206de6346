package mega_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
	"github.com/megaframework/mega/framework/natstest"
	"github.com/megaframework/mega/internal/testkit"
)

// appProcess is a mega app running as a real child process.
type appProcess struct {
	cmd *exec.Cmd
	url string
}

// buildChatApp compiles testdata/chatapp once per test binary run.
func buildChatApp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chatapp")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/chatapp").CombinedOutput()
	if err != nil {
		t.Fatalf("build chatapp: %v\n%s", err, out)
	}
	return bin
}

// startAppProcess runs bin with a mega.yaml whose bus is natsURL and waits
// until /readyz answers.
func startAppProcess(t *testing.T, bin, natsURL, ttl string) *appProcess {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`server: { addr: "127.0.0.1:${PORT}", shutdownTimeout: 5s }
logger: { level: warn }
services: { buses: { main: { driver: nats, url: "%s" } } }
wsCluster: { bus: main, roster: { driver: nats, ttl: %s } }
`, natsURL, ttl)
	if err := os.WriteFile(filepath.Join(dir, "mega.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testkit.FreePort(t)
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "mega.yaml"))
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &appProcess{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	natstest.WaitFor(t, 20*time.Second, "app process ready", func() bool {
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// TestKilledProcessMembersLeaveWithinTTL kills an app process with SIGKILL
// and checks that its members leave the other instance's roster, with
// presence.leave delivered to clients, within TTL plus one heartbeat.
func TestKilledProcessMembersLeaveWithinTTL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	is := is.New(t)
	const ttl = time.Second
	srv := natstest.StartServer(t)
	proc := startAppProcess(t, buildChatApp(t), natstest.URL(srv), ttl.String())
	local := megatest.Boot(t, natstest.URL(srv), testApps, `
services: { buses: { main: { driver: nats, url: embedded } } }
wsCluster: { bus: main, roster: { driver: nats, ttl: 1s } }`)

	ann, _ := dial(t, local, "name=ann")
	remote := &megatest.Server{URL: proc.url}
	remote.Dial(t, "/ws/chat?name=zed")
	remote.Dial(t, "/ws/chat?name=zed2")
	for range 2 {
		var joined mega.Member
		joined = ann.ExpectPresence(t, "join")
		is.True(joined.UserID == "zed" || joined.UserID == "zed2")
	}
	is.Equal(rosterSize(t, ann), 3)

	killed := time.Now()
	is.NoErr(proc.cmd.Process.Signal(syscall.SIGKILL))
	ann.ExpectPresence(t, "leave")
	ann.ExpectPresence(t, "leave")
	took := time.Since(killed)
	t.Logf("members of the killed process left %s after SIGKILL (TTL %s)", took, ttl)
	is.True(took <= ttl+ttl/3+time.Second) // TTL + one heartbeat, plus sweep and scheduling slack on a loaded machine
	is.Equal(rosterSize(t, ann), 1)
}
