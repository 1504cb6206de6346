package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Report is the result of one run; --json writes it for machines, and
// `megabench table` turns many of them into medians and ratios.
type Report struct {
	Label    string    `json:"label"`
	Protocol string    `json:"protocol"`
	Mode     string    `json:"mode"` // broadcast | idle
	Time     time.Time `json:"time"`
	Machine  Machine   `json:"machine"`
	Params   Params    `json:"params"`
	Connect  Connect   `json:"connect"`

	// Broadcast mode.
	WindowSeconds    float64      `json:"windowSeconds,omitempty"`
	Broadcasts       int64        `json:"broadcasts,omitempty"` // sent in the window
	BroadcastsPerSec float64      `json:"broadcastsPerSec,omitempty"`
	Expected         int64        `json:"expected,omitempty"` // deliveries the window's broadcasts should make
	Delivered        int64        `json:"delivered,omitempty"`
	Lost             int64        `json:"lost"` // expected - delivered after the drain
	DrainSeconds     float64      `json:"drainSeconds,omitempty"`
	DeliveriesPerSec float64      `json:"deliveriesPerSec,omitempty"` // all deliveries during the window / its length
	Latency          *Latency     `json:"latency,omitempty"`          // of the window's deliveries
	ByURL            []URLLatency `json:"byUrl,omitempty"`
	WindowStalls     int64        `json:"windowStalls,omitempty"`

	Server      *Server      `json:"server,omitempty"`
	Client      ClientStats  `json:"client"`
	Memory      Memory       `json:"memory"`
	Disconnects int64        `json:"disconnects"`
	OtherFrames int64        `json:"otherFrames"`
	Errors      []ErrorCount `json:"errors,omitempty"`
	Watch       *Watch       `json:"watch,omitempty"`
}

// Watch is what --watch saw: how many frames of the type arrived, and the
// wall-clock time of the first and the last (unix nanoseconds).
type Watch struct {
	Type          string `json:"type"`
	Count         int64  `json:"count"`
	FirstUnixNano int64  `json:"firstUnixNano,omitempty"`
	LastUnixNano  int64  `json:"lastUnixNano,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs int    `json:"cpus"`
	Go   string `json:"go"`
	OS   string `json:"os"`
	// Load is /proc/loadavg's 1, 5 and 15 minute averages when the run
	// started: how busy the machine was with other work.
	Load string `json:"loadAvg,omitempty"`
}

// Params are the run's settings.
type Params struct {
	URLs       []string `json:"urls"`
	Clients    int      `json:"clients"`
	Duration   float64  `json:"durationSeconds"`
	Rate       float64  `json:"rate"`
	Window     int      `json:"window,omitempty"`
	Publishers int      `json:"publishers"`
	Payload    int      `json:"payload"`
	Await      string   `json:"await,omitempty"`
}

// Connect describes the connect phase.
type Connect struct {
	Connected int     `json:"connected"`
	Failed    int     `json:"failed"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"perSecond"`
	// AwaitSeconds is how long after the first dial every client had its
	// --await frame or had lost its connection (a join storm's end, seen
	// from the clients).
	AwaitSeconds float64 `json:"awaitSeconds,omitempty"`
	Awaited      int64   `json:"awaited,omitempty"` // clients that got the --await frame
}

// Latency quantiles in microseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50us float64 `json:"p50us"`
	P95us float64 `json:"p95us"`
	P99us float64 `json:"p99us"`
	MaxUs float64 `json:"maxUs"`
}

// URLLatency is the latency of the subscribers of one --url.
type URLLatency struct {
	URL       string   `json:"url"`
	Clients   int64    `json:"clients"`
	Delivered int64    `json:"delivered"`
	Latency   *Latency `json:"latency"`
}

// Server is what /proc says about the --pid processes.
type Server struct {
	PIDs       []string `json:"pids"`
	CPUSeconds float64  `json:"cpuSeconds"` // over the window and drain (or the idle hold)
	// CPUPerDeliveryUs is server CPU time per delivery, in microseconds:
	// from the window's start to the end of the drain, over every delivery
	// in that time.
	CPUPerDeliveryUs float64 `json:"cpuPerDeliveryUs,omitempty"`
	// CPUCores is the average number of cores busy.
	CPUCores       float64 `json:"cpuCores"`
	RSSStartBytes  int64   `json:"rssStartBytes"` // before connecting
	RSSWindowBytes int64   `json:"rssWindowBytes"`
	RSSEndBytes    int64   `json:"rssEndBytes"`
	PeakRSSBytes   int64   `json:"peakRssBytes"`
}

// ClientStats is this tool's own cost.
type ClientStats struct {
	CPUSeconds float64 `json:"cpuSeconds"`
	RSSBytes   int64   `json:"rssBytes"`
}

// Memory is the idle-connection cost, per connection.
type Memory struct {
	Before *goMem `json:"goBefore,omitempty"`
	After  *goMem `json:"goAfter,omitempty"`
	// Per connection, from the differences with every client connected.
	RSSPerConn       float64 `json:"rssPerConn,omitempty"`
	HeapPerConn      float64 `json:"heapPerConn,omitempty"`
	StackPerConn     float64 `json:"stackPerConn,omitempty"`
	GoroutinesPerCon float64 `json:"goroutinesPerConn,omitempty"`
}

// ErrorCount is one kind of error and how often it happened.
type ErrorCount struct {
	Error string `json:"error"`
	Count int    `json:"count"`
}

func newReport(cfg *config) *Report {
	mode := "broadcast"
	if cfg.Idle {
		mode = "idle"
	}
	return &Report{
		Label: cfg.Label, Protocol: cfg.Protocol, Mode: mode, Time: time.Now().UTC(),
		Machine: Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Load: loadAvg()},
		Params: Params{
			URLs: cfg.URLs, Clients: cfg.Clients, Duration: cfg.Duration.Seconds(), Rate: cfg.Rate,
			Publishers: cfg.Publishers, Payload: cfg.Payload, Await: cfg.Await,
		},
	}
}

func latencyOf(h *hist) *Latency {
	us := func(ns uint64) float64 { return float64(ns) / 1e3 }
	return &Latency{Count: h.total(), P50us: us(h.quantile(0.50)), P95us: us(h.quantile(0.95)), P99us: us(h.quantile(0.99)), MaxUs: us(h.max())}
}

func (rep *Report) fillBroadcast(r *runner, window time.Duration, broadcasts int64, p *procs) {
	if r.cfg.Rate == 0 {
		rep.Params.Window = r.cfg.Window
	}
	rep.WindowSeconds = window.Seconds()
	rep.Broadcasts = broadcasts
	rep.BroadcastsPerSec = float64(broadcasts) / window.Seconds()
	rep.Expected = r.expected.Load()
	rep.Delivered = r.deliveredTotal()
	rep.Lost = max(0, rep.Expected-rep.Delivered)
	rep.DeliveriesPerSec = float64(rep.Delivered) / window.Seconds()
	rep.WindowStalls = r.stalls.Load()
	all := &hist{}
	for _, g := range r.groups {
		h := g.latency()
		all.merge(h)
		rep.ByURL = append(rep.ByURL, URLLatency{URL: g.url, Clients: g.clients.Load(), Delivered: g.deliveredTotal(), Latency: latencyOf(h)})
	}
	rep.Latency = latencyOf(all)
	if len(rep.ByURL) == 1 {
		rep.ByURL = nil
	}
	if p.n() > 0 {
		rep.Server = rep.serverStats(p, p.between("window", "end"))
		if rep.Delivered > 0 {
			rep.Server.CPUPerDeliveryUs = rep.Server.CPUSeconds * 1e6 / float64(rep.Delivered)
		}
		rep.Server.CPUCores = rep.Server.CPUSeconds / p.elapsed("window", "end").Seconds()
	}
}

func (rep *Report) serverStats(p *procs, cpu time.Duration) *Server {
	s := &Server{PIDs: p.pids, CPUSeconds: cpu.Seconds()}
	sum := func(moment string) (rss, hwm int64) {
		for _, x := range p.get(moment) {
			rss += x.rss
			hwm += x.hwm
		}
		return rss, hwm
	}
	s.RSSStartBytes, _ = sum("start")
	s.RSSWindowBytes, _ = sum("window")
	s.RSSEndBytes, s.PeakRSSBytes = sum("end")
	return s
}

func (rep *Report) fillIdle(r *runner, p *procs) {
	n := float64(rep.Connect.Connected)
	if p.n() > 0 {
		rep.Server = rep.serverStats(p, p.between("window", "end"))
		rep.Server.CPUCores = rep.Server.CPUSeconds / p.elapsed("window", "end").Seconds()
		rep.Memory.RSSPerConn = float64(rep.Server.RSSWindowBytes-rep.Server.RSSStartBytes) / n
	}
	if b, a := rep.Memory.Before, rep.Memory.After; b != nil && a != nil {
		rep.Memory.HeapPerConn = float64(a.HeapInuse-b.HeapInuse) / n
		rep.Memory.StackPerConn = float64(a.StackInuse-b.StackInuse) / n
		rep.Memory.GoroutinesPerCon = float64(a.Goroutines-b.Goroutines) / n
	}
}

func writeJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func printSummary(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "== %s (%s, %s) — %d clients\n", rep.Label, rep.Protocol, rep.Mode, rep.Params.Clients)
	fmt.Fprintf(w, "connect:     %d connected, %d failed, %.2fs, %.0f/s\n", rep.Connect.Connected, rep.Connect.Failed, rep.Connect.Seconds, rep.Connect.PerSecond)
	if rep.Connect.Awaited > 0 {
		fmt.Fprintf(w, "awaited:     %d clients had their %q frame %.2fs after the first dial\n", rep.Connect.Awaited, rep.Params.Await, rep.Connect.AwaitSeconds)
	}
	if rep.Mode == "broadcast" {
		fmt.Fprintf(w, "window:      %.2fs, %d broadcasts (%.0f/s)\n", rep.WindowSeconds, rep.Broadcasts, rep.BroadcastsPerSec)
		fmt.Fprintf(w, "deliveries:  %d of %d expected (lost %d), %s/s; drained in %.1fs\n", rep.Delivered, rep.Expected, rep.Lost, si(rep.DeliveriesPerSec), rep.DrainSeconds)
		if l := rep.Latency; l != nil {
			fmt.Fprintf(w, "latency:     p50 %s  p95 %s  p99 %s  max %s\n", usStr(l.P50us), usStr(l.P95us), usStr(l.P99us), usStr(l.MaxUs))
		}
		for _, u := range rep.ByURL {
			fmt.Fprintf(w, "  %-40s %5d clients  p50 %s  p99 %s\n", u.URL, u.Clients, usStr(u.Latency.P50us), usStr(u.Latency.P99us))
		}
	}
	if s := rep.Server; s != nil {
		fmt.Fprintf(w, "server:      %.2f CPU-s (%.2f cores)", s.CPUSeconds, s.CPUCores)
		if s.CPUPerDeliveryUs > 0 {
			fmt.Fprintf(w, ", %.3f µs CPU per delivery", s.CPUPerDeliveryUs)
		}
		fmt.Fprintf(w, ", RSS %s → %s (peak %s)\n", mib(s.RSSStartBytes), mib(s.RSSEndBytes), mib(s.PeakRSSBytes))
	}
	if rep.Mode == "idle" {
		m := rep.Memory
		fmt.Fprintf(w, "per conn:    RSS %.1f KB, Go heap %.1f KB, stacks %.1f KB, %.2f goroutines\n", m.RSSPerConn/1024, m.HeapPerConn/1024, m.StackPerConn/1024, m.GoroutinesPerCon)
	}
	fmt.Fprintf(w, "client:      %.2f CPU-s, RSS %s; %d disconnects, %d other frames\n", rep.Client.CPUSeconds, mib(rep.Client.RSSBytes), rep.Disconnects, rep.OtherFrames)
	if wt := rep.Watch; wt != nil {
		fmt.Fprintf(w, "watch:       %d %s frames, first at %.3f, last at %.3f (unix s)\n", wt.Count, wt.Type, float64(wt.FirstUnixNano)/1e9, float64(wt.LastUnixNano)/1e9)
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "error:       %dx %s\n", e.Count, e.Error)
	}
}

func usStr(us float64) string {
	if us >= 1000 {
		return fmt.Sprintf("%.2fms", us/1000)
	}
	return fmt.Sprintf("%.0fµs", us)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
