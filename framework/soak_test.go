package mega_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/megaframework/mega/framework/megatest"
	"github.com/megaframework/mega/internal/testkit"
)

// TestSoak runs N clients chatting across two instances for a while (set
// MEGA_SOAK=2m, and MEGA_SOAK_CLIENTS=200, MEGA_SOAK_RATE=1 messages per
// second per client), then checks that no message was lost and that
// goroutines, heap and open files return to their baseline once everything
// is shut down. It is skipped unless MEGA_SOAK is set: `task soak`.
func TestSoak(t *testing.T) {
	duration, err := time.ParseDuration(os.Getenv("MEGA_SOAK"))
	if err != nil {
		t.Skip("set MEGA_SOAK to a duration (e.g. 2m) to run the soak")
	}
	clients := envInt("MEGA_SOAK_CLIENTS", 100)
	rate := envInt("MEGA_SOAK_RATE", 1)

	before := snapshot()
	t.Run("chat", func(t *testing.T) { soak(t, clients, rate, duration) })
	// Everything the subtest started is gone once its cleanups ran; give
	// the runtime a moment to retire exited goroutines and sockets.
	var after usage
	testkit.PollEvery(10*time.Second, 100*time.Millisecond, func() bool {
		after = snapshot()
		return after.goroutines <= before.goroutines+2 && after.fds <= before.fds+2
	})
	t.Logf("baseline: %s", before)
	t.Logf("after:    %s", after)
	if after.goroutines > before.goroutines+2 {
		t.Errorf("goroutines did not return to baseline: %d -> %d", before.goroutines, after.goroutines)
	}
	if after.fds > before.fds+2 {
		t.Errorf("open files did not return to baseline: %d -> %d", before.fds, after.fds)
	}
	if after.heap > before.heap+8<<20 {
		t.Errorf("heap did not return to baseline: %d -> %d KiB", before.heap>>10, after.heap>>10)
	}
}

func soak(t *testing.T, clients, rate int, duration time.Duration) {
	nodes := megatest.BootCluster(t, 2, stormApps, `websocket: { maxConnectionsPerIP: -1, messagesPerSecond: 1000, burst: 1000 }`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var received atomic.Int64
	conns := make([]*websocket.Conn, clients)
	var readers sync.WaitGroup
	for i := range conns {
		url := nodes[i%2].WebSocketURL(fmt.Sprintf("/ws/chat?name=s%d", i))
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns[i] = ws
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				_, data, err := ws.Read(ctx)
				if err != nil {
					return
				}
				if len(data) > 14 && string(data[:14]) == `{"type":"said"` {
					received.Add(1)
				}
			}
		}()
	}
	// Every instance must see every member before traffic counts.
	waitMembers(t, nodes, clients)

	var sent atomic.Int64
	var senders sync.WaitGroup
	stop := time.Now().Add(duration)
	for i, ws := range conns {
		senders.Add(1)
		go func() {
			defer senders.Done()
			tick := time.NewTicker(time.Second / time.Duration(rate))
			defer tick.Stop()
			for n := 0; time.Now().Before(stop); n++ {
				<-tick.C
				msg := fmt.Sprintf(`{"type":"send","payload":{"text":"%d-%d"}}`, i, n)
				if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
					t.Errorf("client %d: send: %v", i, err)
					return
				}
				sent.Add(1)
			}
		}()
	}
	senders.Wait()
	want := sent.Load() * int64(clients)
	testkit.PollEvery(30*time.Second, 50*time.Millisecond, func() bool { return received.Load() >= want })
	t.Logf("%d clients on 2 instances, %s: sent %d messages, delivered %d of %d (lost %d)",
		clients, duration, sent.Load(), received.Load(), want, want-received.Load())
	if received.Load() != want {
		t.Errorf("lost %d of %d deliveries", want-received.Load(), want)
	}
	for _, ws := range conns {
		ws.Close(websocket.StatusNormalClosure, "")
	}
	readers.Wait()
}

// waitMembers waits until every instance lists n members.
func waitMembers(t *testing.T, nodes []*megatest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range nodes {
		if _, ok := testkit.PollEvery(time.Until(deadline), 20*time.Millisecond, func() bool {
			return len(s.App.List("/ws/chat")) == n
		}); !ok {
			t.Fatalf("instance %s lists %d of %d members", s.URL, len(s.App.List("/ws/chat")), n)
		}
	}
}

type usage struct {
	goroutines, fds int
	heap            uint64
}

func (u usage) String() string {
	return fmt.Sprintf("%d goroutines, %d open files, %d KiB heap", u.goroutines, u.fds, u.heap>>10)
}

func snapshot() usage {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fds, _ := os.ReadDir("/proc/self/fd")
	return usage{goroutines: runtime.NumGoroutine(), fds: len(fds), heap: m.HeapAlloc}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
