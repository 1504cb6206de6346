package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

func TestMarkerRoundTrip(t *testing.T) {
	for _, p := range []string{"mega", "raw", "centrifuge"} {
		t.Run(p, func(t *testing.T) {
			cfg := &config{Protocol: p, MessageType: "chat.send", Channel: "bench", Payload: 100}
			frame := cfg.encodePublish(nil, 7, 42, 123456789)
			if p != "raw" && !json.Valid(frame) {
				t.Fatalf("not JSON: %s", frame)
			}
			seq, ns, _, ok := nextMarker(frame)
			if !ok || seq != 42 || ns != 123456789 {
				t.Fatalf("nextMarker(%s) = %d, %d, %v", frame, seq, ns, ok)
			}
		})
	}
}

func TestNextMarkerFindsEveryMarker(t *testing.T) {
	// A centrifuge frame may batch several publications, one per line.
	b := appendMarker(nil, 1, 10, 0)
	b = append(b, "\n~mb1:broken~ ~mb1:2:"...)
	b = appendMarker(b, 3, 30, 50)
	var got []int64
	for {
		seq, _, rest, ok := nextMarker(b)
		if !ok {
			break
		}
		got = append(got, seq)
		b = rest
	}
	if want := []int64{1, 3}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestAppendMarkerPads(t *testing.T) {
	if got := len(appendMarker(nil, 1, 1, 200)); got != 200 {
		t.Fatalf("len = %d, want 200", got)
	}
}

func TestHistQuantiles(t *testing.T) {
	h := &hist{}
	for i := int64(1); i <= 100_000; i++ {
		h.record(i * 1000) // 1 µs .. 100 ms, uniform
	}
	for _, c := range []struct {
		q    float64
		want float64
	}{{0.5, 50e6}, {0.99, 99e6}, {0.01, 1e6}} {
		got := float64(h.quantile(c.q))
		if d := (got - c.want) / c.want; d > 0.01 || d < -0.01 {
			t.Errorf("quantile(%v) = %.0f, want %.0f ±1%%", c.q, got, c.want)
		}
	}
	if h.total() != 100_000 {
		t.Fatalf("total = %d", h.total())
	}
}

func TestBucketsAreMonotonic(t *testing.T) {
	last := -1
	for i := 0; i < 10_000; i++ {
		v := rand.Uint64N(1 << 40)
		if b := bucketOf(v); b < 0 || b >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, b)
		}
	}
	for v := uint64(0); v < 1<<16; v++ {
		b := bucketOf(v)
		if b < last {
			t.Fatalf("bucketOf(%d) = %d < %d", v, b, last)
		}
		last = b
		if mid := bucketMid(b); float64(mid) < float64(v)*0.96 || float64(mid) > float64(v)*1.04+1 {
			t.Fatalf("bucketMid(bucketOf(%d)) = %d", v, mid)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	stat := []byte("1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0 100 0 0")
	got, err := parseStatCPU(stat)
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	if s, err := readProc("self"); err != nil || s.rss == 0 {
		t.Fatalf("readProc(self) = %+v, %v", s, err)
	}
}

func TestFlagsAreValidated(t *testing.T) {
	var stderr bytes.Buffer
	_, err := parseFlags([]string{"--clients", "0", "--protocol", "mqtt", "--window", "0"}, &stderr)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--clients", "--protocol", "--window"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

// benchChannel broadcasts every chat.send, like bench/megaserver.
type benchChannel struct{}

func (benchChannel) OnConnect(*mega.Ctx) error { return nil }
func (benchChannel) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	return ctx.Presence.Broadcast(mega.Broadcast{Type: "chat.message", Payload: msg.Payload})
}

func startApp(t *testing.T) *megatest.Server {
	l := mega.DefaultLimits()
	l.MessagesPerSecond, l.Burst = 1e6, 1e6
	app := mega.NewApp("bench", mega.WithLimits(l))
	app.Channel("/ws/chat", benchChannel{})
	return megatest.Start(t, app)
}

// TestRunAgainstMega drives a real mega app over loopback, briefly, flat
// out and at a fixed rate: every broadcast reaches every subscriber.
func TestRunAgainstMega(t *testing.T) {
	srv := startApp(t)
	url := srv.WebSocketURL("/ws/chat?name=b{i}")
	for _, rate := range []string{"0", "200"} {
		t.Run("rate="+rate, func(t *testing.T) {
			dir := t.TempDir()
			var out, log bytes.Buffer
			err := cli(context.Background(), []string{
				"--url", url, "--clients", "20", "--duration", "300ms", "--warmup", "100ms",
				"--rate", rate, "--pid", "self", "--progress", "100ms", "--json", filepath.Join(dir, "r.json"),
			}, &out, &log)
			if err != nil {
				t.Fatalf("%v\n%s\n%s", err, out.String(), log.String())
			}
			var rep Report
			b, err := os.ReadFile(filepath.Join(dir, "r.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			switch {
			case rep.Connect.Connected != 20:
				t.Errorf("connected %d, want 20", rep.Connect.Connected)
			case rep.Broadcasts == 0 || rep.Delivered != rep.Broadcasts*20:
				t.Errorf("delivered %d for %d broadcasts to 20 clients", rep.Delivered, rep.Broadcasts)
			case rep.Lost != 0 || rep.Disconnects != 0:
				t.Errorf("lost %d, disconnects %d", rep.Lost, rep.Disconnects)
			case rep.Latency == nil || rep.Latency.P50us <= 0:
				t.Errorf("no latency: %+v", rep.Latency)
			case rep.Server == nil || rep.Server.CPUPerDeliveryUs <= 0:
				t.Errorf("no server CPU: %+v", rep.Server)
			}
			if !strings.Contains(log.String(), "window") {
				t.Errorf("no progress lines:\n%s", log.String())
			}

			var table bytes.Buffer
			if err := cli(context.Background(), []string{"table", filepath.Join(dir, "r.json")}, &table, io.Discard); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(table.String(), "| mega | 20 | 1 |") {
				t.Errorf("table:\n%s", table.String())
			}
		})
	}
}

func TestIdleRun(t *testing.T) {
	srv := startApp(t)
	var out bytes.Buffer
	err := cli(context.Background(), []string{
		"--idle", "--url", srv.WebSocketURL("/ws/chat?name=b{i}"), "--clients", "10",
		"--duration", "100ms", "--settle", "50ms", "--pid", "self", "--progress", "0",
	}, &out, io.Discard)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "10 connected, 0 failed") || !strings.Contains(out.String(), "per conn:") {
		t.Fatalf("summary:\n%s", out.String())
	}
}

// greeter says hello to every connection.
type greeter struct{ benchChannel }

func (greeter) OnConnect(ctx *mega.Ctx) error { return ctx.Send("hello", nil) }

func TestWatchUntil(t *testing.T) {
	app := mega.NewApp("watch")
	app.Channel("/ws/chat", greeter{})
	srv := megatest.Start(t, app)
	var out bytes.Buffer
	start := time.Now()
	err := cli(context.Background(), []string{
		"--idle", "--url", srv.WebSocketURL("/ws/chat"), "--clients", "10", "--duration", "20s",
		"--settle", "0", "--progress", "0", "--watch", "hello", "--watch-until", "10",
	}, &out, io.Discard)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("--watch-until did not end the hold early")
	}
	if !strings.Contains(out.String(), "watch:       10 hello frames") {
		t.Fatalf("summary:\n%s", out.String())
	}
}

// bigGreeter sends every connection a 100 KB welcome, like an app whose
// welcome carries a big roster.
type bigGreeter struct{ benchChannel }

func (bigGreeter) OnConnect(ctx *mega.Ctx) error {
	return ctx.Send("welcome", strings.Repeat("x", 100<<10))
}

func TestAwaitWithReadLimit(t *testing.T) {
	app := mega.NewApp("await")
	app.Channel("/ws/chat", bigGreeter{})
	srv := megatest.Start(t, app)
	var out bytes.Buffer
	err := cli(context.Background(), []string{
		"--idle", "--url", srv.WebSocketURL("/ws/chat"), "--clients", "10", "--duration", "50ms",
		"--settle", "0", "--progress", "0", "--await", "welcome", "--await-for", "20s", "--read-limit", "1048576",
	}, &out, io.Discard)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), `awaited:     10 clients had their "welcome" frame`) || !strings.Contains(out.String(), "0 disconnects") {
		t.Fatalf("summary:\n%s", out.String())
	}
}

func TestAddedLatency(t *testing.T) {
	lat := func(p50, p99 float64) *Latency { return &Latency{Count: 1, P50us: p50, P99us: p99} }
	r := &Report{ByURL: []URLLatency{{Latency: lat(1000, 5000)}, {Latency: lat(3000, 6000)}, {Latency: lat(2000, 9000)}}}
	p50, ok := added(r, func(l *Latency) float64 { return l.P50us })
	if !ok || p50 != 1.5 {
		t.Errorf("added p50 = %v, %v; want 1.5 ms", p50, ok)
	}
	p99, _ := added(r, func(l *Latency) float64 { return l.P99us })
	if p99 != 2.5 {
		t.Errorf("added p99 = %v; want 2.5 ms", p99)
	}
	if _, ok := added(&Report{ByURL: r.ByURL[:1]}, func(l *Latency) float64 { return l.P50us }); ok {
		t.Error("one URL has nothing added")
	}
}
