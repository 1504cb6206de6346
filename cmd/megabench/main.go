// Command megabench is a WebSocket fan-out load tool for mega apps and the
// baselines they are measured against.
//
// It connects N subscriber clients, then one or more publishers send
// broadcasts that carry a sequence number and a send timestamp. Every
// subscriber reads every frame, finds the timestamps in it and records the
// delivery latency. It reports deliveries per second, latency quantiles,
// loss, the connect rate and, for a local server process (--pid), its CPU
// time per delivery and its memory.
//
//	megabench --url 'ws://127.0.0.1:8080/ws/chat?name=bench{i}' --clients 1000 --duration 10s
//	megabench --protocol raw --url ws://127.0.0.1:9001/ws --clients 1000 --pid $(pgrep -n rawws)
//	megabench --idle --clients 10000 --pid 1234 --stats-url http://127.0.0.1:8080/debug/mem
//	megabench table reports/*.json   # medians and ratios of many runs, as markdown
//
// Protocols (--protocol): mega sends {"type":<message-type>,"payload":{"text":...}}
// frames and works with any mega app whose handler broadcasts the text on;
// raw sends the text as is (a raw server echoes it to everyone); centrifuge
// speaks the centrifuge JSON protocol (connect, then publish to --channel).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// config is everything a run is told by its flags.
type config struct {
	URLs        []string // subscriber URL templates, used round-robin
	PubURL      string   // publisher URL template
	Clients     int
	Duration    time.Duration
	Warmup      time.Duration
	Drain       time.Duration
	Rate        float64 // broadcasts per second, 0 = as fast as the window allows
	Window      int     // broadcasts in flight when Rate is 0
	Publishers  int
	Payload     int
	MessageType string
	Protocol    string
	Channel     string
	JSON        string
	PIDs        []string
	StatsURL    string
	Idle        bool
	Settle      time.Duration
	Concurrency int
	ConnectRate float64
	Progress    time.Duration
	Label       string
	LocalAddrs  []string
	Quiet       bool
	Watch       string        // count frames of this type, with the wall time of the first and last
	WatchUntil  int64         // with --idle: stop holding once this many watched frames arrived
	ReadLimit   int64         // largest frame a client accepts; 0 = max(64 KiB, 4×payload+4 KiB)
	Await       string        // with --idle: wait until every client has a frame of this mega type before settling
	AwaitFor    time.Duration // at most this long
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "megabench:", err)
		}
		os.Exit(1)
	}
}

func cli(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "table" {
		return tableCmd(args[1:], stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	rep, err := run(ctx, cfg, stderr)
	if rep != nil {
		printSummary(stdout, rep)
		if cfg.JSON != "" {
			if werr := writeJSON(cfg.JSON, rep); werr != nil {
				err = errors.Join(err, werr)
			}
		}
	}
	return err
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("megabench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var urls, pids, localAddrs string
	c := &config{}
	fs.StringVar(&urls, "url", "ws://127.0.0.1:8080/ws/chat?name=bench{i}", "subscriber URL template; {i} is the client number. Several URLs, comma-separated, are used round-robin (e.g. one per instance) and reported per URL")
	fs.StringVar(&c.PubURL, "pub-url", "", "publisher URL template ({i} is the publisher number, prefixed \"pub\"); default: the first --url")
	fs.IntVar(&c.Clients, "clients", 1000, "number of subscriber connections")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measurement window (or how long idle connections are held)")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "load before the window starts, not measured")
	fs.DurationVar(&c.Drain, "drain", 3*time.Second, "after the window, wait for deliveries still in flight until none has arrived for this long; what is missing then is lost")
	fs.Float64Var(&c.Rate, "rate", 0, "broadcasts per second in total; 0 = flat out, bounded by --window")
	fs.IntVar(&c.Window, "window", 32, "with --rate 0: broadcasts in flight (sent but not yet delivered to every subscriber)")
	fs.IntVar(&c.Publishers, "publishers", 1, "publisher connections (the rate is split between them)")
	fs.IntVar(&c.Payload, "payload", 64, "payload text size in bytes (at least the ~40-byte timestamp marker)")
	fs.StringVar(&c.MessageType, "message-type", "chat.send", "with --protocol mega: the type of the frames the publisher sends")
	fs.StringVar(&c.Protocol, "protocol", "mega", "frame format: mega, raw or centrifuge")
	fs.StringVar(&c.Channel, "channel", "bench", "with --protocol centrifuge: the channel to publish to")
	fs.StringVar(&c.JSON, "json", "", "write the report as JSON to this file")
	fs.StringVar(&pids, "pid", "", "local server process id(s), comma-separated: sample their CPU time and RSS from /proc")
	fs.StringVar(&c.StatsURL, "stats-url", "", "a bench server's /debug/mem URL: Go heap and stacks before and after connecting")
	fs.BoolVar(&c.Idle, "idle", false, "connect the clients and hold them idle; report memory per connection")
	fs.DurationVar(&c.Settle, "settle", 3*time.Second, "with --idle: wait this long after connecting before measuring memory")
	fs.IntVar(&c.Concurrency, "connect-concurrency", 64, "dials in flight while connecting")
	fs.Float64Var(&c.ConnectRate, "connect-rate", 0, "at most this many new connections per second (0 = no limit)")
	fs.DurationVar(&c.Progress, "progress", time.Second, "interval of the progress lines on stderr (0 = none)")
	fs.StringVar(&c.Label, "label", "", "name of this run in reports and tables (default: the protocol)")
	fs.StringVar(&c.Watch, "watch", "", "count frames of this mega type (e.g. presence.leave) and report the wall-clock time of the first and last, to time events triggered outside the tool")
	fs.Int64Var(&c.WatchUntil, "watch-until", 0, "with --idle and --watch: stop once this many watched frames have arrived (0 = hold for --duration)")
	fs.StringVar(&c.Await, "await", "", "with --idle: before --settle, wait (at most --await-for) until every client has received a frame of this mega type, e.g. welcome, or lost its connection: the end of a join storm as the clients see it")
	fs.DurationVar(&c.AwaitFor, "await-for", 2*time.Minute, "with --await: how long at most to wait")
	fs.Int64Var(&c.ReadLimit, "read-limit", 0, "largest frame a client reads, in bytes; 0 = 64 KiB or 4×payload+4 KiB, whichever is larger (an app whose welcome carries the whole roster needs more: ~110 bytes per member)")
	fs.StringVar(&localAddrs, "local-addrs", "", "comma-separated local IPs to dial from, round-robin (more than ~28k connections to one address need several)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: megabench [flags]\n       megabench table [flags] REPORT.json...\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.URLs = splitList(urls)
	c.PIDs = splitList(pids)
	c.LocalAddrs = splitList(localAddrs)
	if c.PubURL == "" && len(c.URLs) > 0 {
		c.PubURL = c.URLs[0]
	}
	if c.Label == "" {
		c.Label = c.Protocol
	}
	var problems []string
	switch {
	case len(c.URLs) == 0:
		problems = append(problems, "--url: at least one URL is required")
	case c.Clients < 1:
		problems = append(problems, "--clients: must be at least 1")
	case c.Clients > 1_000_000:
		problems = append(problems, "--clients: at most 1,000,000")
	}
	if c.Duration <= 0 || c.Duration > time.Hour {
		problems = append(problems, "--duration: must be between 0 and 1h")
	}
	if c.Rate < 0 {
		problems = append(problems, "--rate: must not be negative")
	}
	if c.Window < 1 || c.Window > ringSize/2 {
		problems = append(problems, fmt.Sprintf("--window: must be between 1 and %d", ringSize/2))
	}
	if c.Publishers < 1 || c.Publishers > 1000 {
		problems = append(problems, "--publishers: must be between 1 and 1000")
	}
	if c.Payload < 0 || c.Payload > 16<<20 {
		problems = append(problems, "--payload: must be between 0 and 16 MiB")
	}
	switch c.Protocol {
	case "mega", "raw", "centrifuge":
	default:
		problems = append(problems, fmt.Sprintf("--protocol: must be mega, raw or centrifuge, got %q", c.Protocol))
	}
	if c.ReadLimit < 0 || c.ReadLimit > 1<<30 {
		problems = append(problems, "--read-limit: must be between 0 and 1 GiB")
	}
	if c.Concurrency < 1 {
		problems = append(problems, "--connect-concurrency: must be at least 1")
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
