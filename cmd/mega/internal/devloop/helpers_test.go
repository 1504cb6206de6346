//go:build unix

package devloop

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("DEVLOOP_FAKE_APP") == "1" {
		os.Exit(fakeApp())
	}
	goleak.VerifyTestMain(m)
}

// fakeApp is the app the state-machine tests run: this test binary, started
// by a script a fake build writes. It serves GET /version (FAKE_VERSION),
// /pid, /readyz and /_mega/dev/info (FAKE_STATIC), and stops on SIGTERM.
// FAKE_CRASH exits at once with status 3; FAKE_IGNORE_TERM ignores SIGTERM;
// FAKE_CHILD starts a grandchild (sleep) in the app's process group and
// serves its pid at /child.
func fakeApp() int {
	if os.Getenv("FAKE_CRASH") == "1" {
		fmt.Println("fake app: crashing")
		return 3
	}
	sigs := make(chan os.Signal, 1)
	if os.Getenv("FAKE_IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sigs, syscall.SIGTERM)
	}
	child := 0
	if os.Getenv("FAKE_CHILD") == "1" {
		cmd := exec.Command("sleep", "300")
		if err := cmd.Start(); err != nil {
			fmt.Println("fake app:", err)
			return 1
		}
		child = cmd.Process.Pid
	}
	ln, err := net.Listen("tcp", ":"+os.Getenv("PORT"))
	if err != nil {
		fmt.Println("fake app:", err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, os.Getenv("FAKE_VERSION")) })
	mux.HandleFunc("/pid", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, os.Getpid()) })
	mux.HandleFunc("/child", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, child) })
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, os.Getenv(r.URL.Query().Get("k"))) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ready") })
	mux.HandleFunc("/_mega/dev/info", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"static":[%q]}`, os.Getenv("FAKE_STATIC"))
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	fmt.Println("fake app", os.Getenv("FAKE_VERSION"), "serving on", ln.Addr())
	<-sigs
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	fmt.Println("fake app: stopped")
	return 0
}

// fakeBuild is a build that writes a script running fakeApp with the
// current settings. Each field may be changed between builds.
type fakeBuild struct {
	mu       sync.Mutex
	version  string
	extraEnv string // e.g. "FAKE_IGNORE_TERM=1 "
	fail     string // compiler output of a failing build
	gate     chan struct{}
	started  int
	canceled int
}

func (f *fakeBuild) set(fn func(f *fakeBuild)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeBuild) counts() (started, canceled int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started, f.canceled
}

func (f *fakeBuild) build(out string) func(ctx context.Context) buildResult {
	return func(ctx context.Context) buildResult {
		f.mu.Lock()
		f.started++
		gate, version, env, fail := f.gate, f.version, f.extraEnv, f.fail
		f.mu.Unlock()
		start := time.Now()
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				f.set(func(f *fakeBuild) { f.canceled++ })
				return buildResult{canceled: true, took: time.Since(start)}
			}
		}
		if fail != "" {
			return buildResult{output: fail, took: time.Since(start)}
		}
		self, err := os.Executable()
		if err != nil {
			return buildResult{output: err.Error()}
		}
		script := fmt.Sprintf("#!/bin/sh\nGORACE=atexit_sleep_ms=0 DEVLOOP_FAKE_APP=1 FAKE_VERSION=%s %s exec %s \"$@\"\n", version, env, self)
		if err := os.WriteFile(out, []byte(script), 0o755); err != nil {
			return buildResult{output: err.Error()}
		}
		return buildResult{ok: true, took: time.Since(start)}
	}
}

var noKeepAlive = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// fetch returns the body of GET url, or "" when it does not answer 200.
func fetch(url string) string {
	res, err := noKeepAlive.Get(url)
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return ""
	}
	return string(body)
}

func portURL(port int, path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(port) + path
}

// refuses reports whether nothing accepts connections on port.
func refuses(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// procState returns the state letter of pid from /proc (R, S, Z, …) and
// its parent, or "" when there is no such process.
func procState(pid int) (state string, ppid int) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0
	}
	// pid (comm) state ppid …; comm may contain spaces and parentheses.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		return "", 0
	}
	ppid, _ = strconv.Atoi(fields[1])
	return fields[0], ppid
}

// gone reports whether pid has ended: no such process, or a zombie that is
// not ours to reap (our own children must be reaped, not zombies).
func gone(pid int) bool {
	state, ppid := procState(pid)
	return state == "" || (state == "Z" && ppid != os.Getpid())
}

// children returns the processes whose parent is this test process.
func children(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid := procState(pid); state != "" && ppid == os.Getpid() {
			comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
			out = append(out, fmt.Sprintf("%d %s (%s)", pid, strings.TrimSpace(string(comm)), state))
		}
	}
	return out
}
