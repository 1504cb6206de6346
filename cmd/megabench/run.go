package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

const (
	ringSize    = 1 << 16 // delivery counters per sequence number, for the flat-out window
	subShards   = 16      // counters and histograms per URL group, to spread contention
	primeEvery  = 50 * time.Millisecond
	primeLimit  = 30 * time.Second
	windowStall = 10 * time.Second // a broadcast not delivered to everyone by then no longer holds the window
	dialTimeout = 30 * time.Second
	drainLimit  = 2 * time.Minute // the drain ends by then even while deliveries trickle in
)

// paddedInt keeps hot counters on their own cache lines.
type paddedInt struct {
	atomic.Int64
	_ [56]byte
}

// group is the subscribers dialled to one of the --url URLs.
type group struct {
	url       string
	clients   atomic.Int64
	delivered [subShards]paddedInt // deliveries of broadcasts sent in the window
	hist      [subShards]hist      // their latencies
}

func (g *group) deliveredTotal() int64 {
	var n int64
	for i := range g.delivered {
		n += g.delivered[i].Load()
	}
	return n
}

func (g *group) latency() *hist {
	h := &hist{}
	for i := range g.hist {
		h.merge(&g.hist[i])
	}
	return h
}

type client struct {
	idx   int
	ws    *websocket.Conn
	group *group
	pub   bool
}

// runner is the state of one run.
type runner struct {
	cfg    *config
	log    io.Writer
	start  time.Time
	groups []*group

	firstSeq  atomic.Int64 // first broadcast of the measurement window
	live      atomic.Int64 // subscribers connected and reading
	primed    atomic.Int64 // subscribers that have received at least one broadcast
	ring      [ringSize]atomic.Int64
	completed chan struct{} // a broadcast reached every live subscriber
	frames    [subShards]paddedInt
	other     atomic.Int64 // frames without a marker (welcome, presence, replies)
	pings     atomic.Int64
	discon    atomic.Int64 // subscribers that lost their connection during the run
	stopping  atomic.Bool
	sent      atomic.Int64 // broadcasts written by the publishers, all phases
	expected  atomic.Int64 // deliveries the window's broadcasts should make
	pubErrs   atomic.Int64
	stalls    atomic.Int64

	errMu  sync.Mutex
	errs   map[string]int
	phase  atomic.Value // string
	readWG sync.WaitGroup

	clients []*client
	pubs    []*client

	await      []byte // `"type":"<--await>"`, nil without --await
	awaited    atomic.Int64
	watch      []byte // `"type":"<--watch>"`, nil without --watch
	watchN     atomic.Int64
	watchFirst atomic.Int64 // unix ns
	watchLast  atomic.Int64
}

// watched records the arrival of a watched frame at unix time ns.
func (r *runner) watched(ns int64) {
	r.watchN.Add(1)
	r.watchFirst.CompareAndSwap(0, ns)
	for {
		last := r.watchLast.Load()
		if ns <= last || r.watchLast.CompareAndSwap(last, ns) {
			return
		}
	}
}

func (r *runner) now() int64 { return int64(time.Since(r.start)) }

// noteErr counts an error by its text.
func (r *runner) noteErr(what string, err error) {
	msg := what + ": " + err.Error()
	if code := websocket.CloseStatus(err); code != -1 {
		msg = what + ": closed by server with " + strconv.Itoa(int(code))
	}
	r.errMu.Lock()
	if len(r.errs) < 20 || r.errs[msg] > 0 {
		r.errs[msg]++
	} else {
		r.errs["(other errors)"]++
	}
	r.errMu.Unlock()
}

func (r *runner) logf(format string, args ...any) {
	if !r.cfg.Quiet {
		fmt.Fprintf(r.log, format+"\n", args...)
	}
}

// run executes one benchmark run as cfg describes and returns its report.
// The report is returned even when the run fails part-way.
func run(ctx context.Context, cfg *config, log io.Writer) (*Report, error) {
	r := &runner{cfg: cfg, log: log, start: time.Now(), completed: make(chan struct{}, 1), errs: map[string]int{}}
	r.firstSeq.Store(math.MaxInt64)
	if cfg.Watch != "" {
		r.watch = []byte(`"type":` + strconv.Quote(cfg.Watch))
	}
	if cfg.Await != "" {
		r.await = []byte(`"type":` + strconv.Quote(cfg.Await))
	}
	r.phase.Store("connect")
	for _, u := range cfg.URLs {
		r.groups = append(r.groups, &group{url: u})
	}
	rep := newReport(cfg)
	defer r.closeAll()

	procs, err := newProcs(cfg.PIDs)
	if err != nil {
		return nil, err
	}
	// The stats endpoint collects garbage first, so read it before RSS.
	if cfg.StatsURL != "" {
		m, err := fetchMem(cfg.StatsURL)
		if err != nil {
			return nil, fmt.Errorf("--stats-url: %w", err)
		}
		rep.Memory.Before = &m
	}
	procs.sample("start")
	self, _ := readProc("self")

	stopProgress := r.progress(procs)
	defer stopProgress()

	// Connect the subscribers.
	t0 := time.Now()
	r.connect(ctx, cfg.Clients, func(i int) (string, *group) {
		g := r.groups[i%len(r.groups)]
		return expand(g.url, strconv.Itoa(i)), g
	}, false)
	rep.Connect.Seconds = time.Since(t0).Seconds()
	rep.Connect.Connected = len(r.clients)
	rep.Connect.Failed = cfg.Clients - len(r.clients)
	if rep.Connect.Seconds > 0 {
		rep.Connect.PerSecond = float64(len(r.clients)) / rep.Connect.Seconds
	}
	r.logf("connected %d/%d subscribers in %.2fs (%.0f/s)", len(r.clients), cfg.Clients, rep.Connect.Seconds, rep.Connect.PerSecond)
	if len(r.clients) == 0 {
		rep.Errors = r.errorList()
		return rep, errors.New("no subscriber could connect")
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}

	if cfg.Idle {
		if r.await != nil {
			r.phase.Store("await")
			end := time.Now().Add(cfg.AwaitFor)
			// A client that lost its connection will never get the frame.
			for r.awaited.Load()+r.discon.Load() < int64(len(r.clients)) && time.Now().Before(end) && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			rep.Connect.Awaited = r.awaited.Load()
			rep.Connect.AwaitSeconds = time.Since(t0).Seconds()
			r.logf("%d/%d clients had their %s frame after %.2fs", rep.Connect.Awaited, len(r.clients), cfg.Await, rep.Connect.AwaitSeconds)
		}
		r.phase.Store("settle")
		sleepCtx(ctx, cfg.Settle)
		r.measureIdle(ctx, rep, procs)
	} else {
		r.phase.Store("connect publishers")
		r.connect(ctx, cfg.Publishers, func(i int) (string, *group) {
			return expand(cfg.PubURL, "pub"+strconv.Itoa(i)), nil
		}, true)
		if len(r.pubs) < cfg.Publishers {
			rep.Errors = r.errorList()
			return rep, fmt.Errorf("only %d of %d publishers connected", len(r.pubs), cfg.Publishers)
		}
		r.broadcast(ctx, rep, procs)
	}
	if s, err := readProc("self"); err == nil {
		rep.Client.CPUSeconds = (s.cpu - self.cpu).Seconds()
		rep.Client.RSSBytes = s.rss
	}
	rep.Errors = r.errorList()
	rep.Disconnects = r.discon.Load()
	if cfg.Watch != "" {
		rep.Watch = &Watch{Type: cfg.Watch, Count: r.watchN.Load(), FirstUnixNano: r.watchFirst.Load(), LastUnixNano: r.watchLast.Load()}
	}
	rep.OtherFrames = r.other.Load()
	return rep, ctx.Err()
}

// expand fills a URL template's {i}.
func expand(tmpl, i string) string { return strings.ReplaceAll(tmpl, "{i}", i) }

// connect dials n clients with bounded concurrency (and rate), starting
// each one's reader as soon as it is connected.
func (r *runner) connect(ctx context.Context, n int, target func(int) (string, *group), pub bool) {
	cfg := r.cfg
	httpClients := r.httpClients()
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < min(cfg.Concurrency, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if cfg.ConnectRate > 0 && !pub {
					due := start.Add(time.Duration(float64(i) / cfg.ConnectRate * float64(time.Second)))
					sleepCtx(ctx, time.Until(due))
				}
				url, g := target(i)
				c, err := r.dial(ctx, httpClients[i%len(httpClients)], url)
				if err != nil {
					r.noteErr("connect", err)
					continue
				}
				cl := &client{idx: i, ws: c, group: g, pub: pub}
				mu.Lock()
				if pub {
					r.pubs = append(r.pubs, cl)
				} else {
					r.clients = append(r.clients, cl)
					g.clients.Add(1)
					r.live.Add(1)
				}
				mu.Unlock()
				r.readWG.Add(1)
				go r.read(cl)
			}
		}()
	}
	wg.Wait()
}

func (r *runner) httpClients() []*http.Client {
	addrs := r.cfg.LocalAddrs
	if len(addrs) == 0 {
		addrs = []string{""}
	}
	var out []*http.Client
	for _, a := range addrs {
		d := &net.Dialer{}
		if a != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(a)}
		}
		out = append(out, &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: abortiveDial(d)}})
	}
	return out
}

// abortiveDial dials with SO_LINGER 0: closing the connection at the end of
// a run resets it instead of leaving it in TIME_WAIT for a minute. Tens of
// thousands of TIME_WAIT sockets would otherwise make the next run's
// connects slow (the kernel searches for a free ephemeral port) and skew its
// connect rate.
func abortiveDial(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		return c, err
	}
}

func (r *runner) dial(ctx context.Context, hc *http.Client, url string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("upgrade refused: %s", resp.Status)
		}
		return nil, err
	}
	limit := r.cfg.ReadLimit
	if limit == 0 {
		limit = max(64<<10, 4*int64(r.cfg.Payload)+4096)
	}
	c.SetReadLimit(limit)
	if hello := r.cfg.hello(); hello != nil {
		if err := c.Write(ctx, websocket.MessageText, hello); err != nil {
			c.CloseNow()
			return nil, err
		}
	}
	return c, nil
}

// read is a client's reader: it reads every frame into one reused buffer,
// finds the markers and records their deliveries.
func (r *runner) read(c *client) {
	defer r.readWG.Done()
	buf := make([]byte, 0, 512)
	primed, awaited := false, false
	shard := c.idx % subShards
	for {
		if cap(buf) > 64<<10 {
			// Do not keep a big frame's buffer (a welcome with the whole
			// roster) for the rest of the run: thousands of clients would.
			buf = make([]byte, 0, 512)
		}
		_, rd, err := c.ws.Reader(context.Background())
		if err == nil {
			buf, err = readInto(rd, buf[:0])
		}
		if err != nil {
			if !r.stopping.Load() {
				what := "read"
				if c.pub {
					what = "publisher read"
				} else {
					r.discon.Add(1)
				}
				r.noteErr(what, err)
			}
			if !c.pub {
				r.live.Add(-1)
				r.signalCompleted()
			}
			return
		}
		if r.cfg.isPing(buf) {
			r.pings.Add(1)
			_ = c.ws.Write(context.Background(), websocket.MessageText, []byte("{}"))
		}
		if c.pub {
			continue
		}
		b, found := buf, false
		for {
			seq, ns, rest, ok := nextMarker(b)
			if !ok {
				break
			}
			b, found = rest, true
			r.frames[shard].Add(1)
			if seq >= r.firstSeq.Load() {
				c.group.delivered[shard].Add(1)
				c.group.hist[shard].record(r.now() - ns)
			}
			if n := r.ring[seq&(ringSize-1)].Add(1); n == r.live.Load() {
				r.signalCompleted()
			}
		}
		if !found {
			r.other.Add(1)
			if r.watch != nil && bytes.Contains(buf, r.watch) {
				r.watched(time.Now().UnixNano())
			}
			if !awaited && r.await != nil && bytes.Contains(buf, r.await) {
				awaited = true
				r.awaited.Add(1)
			}
		} else if !primed {
			primed = true
			r.primed.Add(1)
		}
	}
}

func (r *runner) signalCompleted() {
	select {
	case r.completed <- struct{}{}:
	default:
	}
}

// readInto reads a whole message into buf, growing it as needed.
func readInto(rd io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// broadcast runs the publishers: priming until every subscriber has
// received a broadcast, warm-up, the measured window, then the drain.
func (r *runner) broadcast(ctx context.Context, rep *Report, procs *procs) {
	cfg := r.cfg
	queues := make([]chan int64, len(r.pubs))
	var pubWG sync.WaitGroup
	for i, p := range r.pubs {
		queues[i] = make(chan int64, 1)
		pubWG.Add(1)
		go func() {
			defer pubWG.Done()
			r.publish(p, queues[i])
		}()
	}
	defer func() {
		for _, q := range queues {
			close(q)
		}
		pubWG.Wait()
	}()
	var seq int64 = 1
	send := func(measured bool) {
		r.ring[seq&(ringSize-1)].Store(0)
		if measured {
			r.expected.Add(r.live.Load())
		}
		queues[seq%int64(len(queues))] <- seq
		seq++
	}

	// Priming: every subscriber is attached once it has received something.
	r.phase.Store("prime")
	deadline := time.Now().Add(primeLimit)
	for r.primed.Load() < r.live.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		send(false)
		sleepCtx(ctx, primeEvery)
	}
	if p, l := r.primed.Load(), r.live.Load(); p < l {
		r.logf("warning: %d of %d subscribers received nothing within %s", l-p, l, primeLimit)
	}
	sleepCtx(ctx, 200*time.Millisecond) // let the priming broadcasts drain

	// Warm-up, then the window.
	r.phase.Store("warm-up")
	r.pace(ctx, &seq, time.Now().Add(cfg.Warmup), func() { send(false) })
	if ctx.Err() != nil {
		return
	}
	// Rates and CPU per delivery count every delivery between two moments,
	// whichever broadcast it belongs to: what was in flight when the window
	// opened is delivered, and paid for, inside it. Latency and loss are
	// of the broadcasts sent in the window.
	r.firstSeq.Store(seq)
	procs.sample("window")
	r.phase.Store("window")
	t0, f0 := time.Now(), r.framesTotal()
	r.pace(ctx, &seq, t0.Add(cfg.Duration), func() { send(true) })
	window, f1 := time.Since(t0), r.framesTotal()
	lastSeq := seq - 1

	// Drain: wait for what is still in flight, as long as deliveries keep
	// coming (a saturated server may be seconds behind); what has not
	// arrived after cfg.Drain without progress is lost.
	r.phase.Store("drain")
	drainStart := time.Now()
	last, lastProgress, hardEnd := r.deliveredTotal(), time.Now(), time.Now().Add(drainLimit)
	for r.deliveredTotal() < r.expected.Load() && time.Since(lastProgress) < cfg.Drain && time.Now().Before(hardEnd) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
		if d := r.deliveredTotal(); d != last {
			last, lastProgress = d, time.Now()
		}
	}
	drainEnd := time.Now()
	procs.sample("end")
	r.phase.Store("done")

	rep.fillBroadcast(r, window, lastSeq-r.firstSeq.Load()+1, procs)
	rep.DrainSeconds = drainEnd.Sub(drainStart).Seconds()
	rep.DeliveriesPerSec = float64(f1-f0) / window.Seconds()
	if rep.Server != nil {
		rep.Server.CPUPerDeliveryUs = 0
		if d := r.framesTotal() - f0; d > 0 {
			rep.Server.CPUPerDeliveryUs = rep.Server.CPUSeconds * 1e6 / float64(d)
		}
	}
}

// pace calls send until the deadline: at cfg.Rate per second, or as fast as
// the window of broadcasts in flight allows.
func (r *runner) pace(ctx context.Context, seq *int64, until time.Time, send func()) {
	cfg := r.cfg
	start, k0 := time.Now(), *seq
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil && time.Now().Before(until) {
		if cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(*seq-k0) / cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				sleepCtx(ctx, min(d, time.Until(until)))
				if !time.Now().Before(until) {
					return
				}
			}
		} else if target := *seq - int64(cfg.Window); target >= 1 {
			r.waitDelivered(ctx, target, timer)
		}
		send()
	}
}

// waitDelivered waits until broadcast seq has reached every live
// subscriber, or windowStall.
func (r *runner) waitDelivered(ctx context.Context, seq int64, timer *time.Timer) {
	timer.Reset(windowStall)
	defer timer.Stop()
	for r.ring[seq&(ringSize-1)].Load() < r.live.Load() {
		select {
		case <-r.completed:
		case <-timer.C:
			r.stalls.Add(1)
			return
		case <-ctx.Done():
			return
		}
	}
}

// publish writes the broadcasts handed to one publisher.
func (r *runner) publish(p *client, seqs <-chan int64) {
	buf := make([]byte, 0, r.cfg.Payload+128)
	var id int64 = 1
	for seq := range seqs {
		id++
		buf = r.cfg.encodePublish(buf[:0], id, seq, r.now())
		if err := p.ws.Write(context.Background(), websocket.MessageText, buf); err != nil {
			r.pubErrs.Add(1)
			r.noteErr("publish", err)
			continue
		}
		r.sent.Add(1)
	}
}

func (r *runner) deliveredTotal() int64 {
	var n int64
	for _, g := range r.groups {
		n += g.deliveredTotal()
	}
	return n
}

func (r *runner) framesTotal() int64 {
	var n int64
	for i := range r.frames {
		n += r.frames[i].Load()
	}
	return n
}

// measureIdle samples memory with every client connected and idle, then
// holds the connections for the duration and checks they all survived.
func (r *runner) measureIdle(ctx context.Context, rep *Report, procs *procs) {
	r.phase.Store("idle")
	if r.cfg.StatsURL != "" {
		m, err := fetchMem(r.cfg.StatsURL)
		if err != nil {
			r.noteErr("stats", err)
		} else {
			rep.Memory.After = &m
		}
	}
	procs.sample("window")
	if r.cfg.WatchUntil > 0 {
		end := time.Now().Add(r.cfg.Duration)
		for r.watchN.Load() < r.cfg.WatchUntil && time.Now().Before(end) && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
	} else {
		sleepCtx(ctx, r.cfg.Duration)
	}
	procs.sample("end")
	rep.fillIdle(r, procs)
}

// closeAll cuts every connection and waits for the readers.
func (r *runner) closeAll() {
	r.stopping.Store(true)
	for _, c := range r.pubs {
		c.ws.CloseNow()
	}
	for _, c := range r.clients {
		c.ws.CloseNow()
	}
	r.readWG.Wait()
}

func (r *runner) errorList() []ErrorCount {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	out := make([]ErrorCount, 0, len(r.errs))
	for m, n := range r.errs {
		out = append(out, ErrorCount{Error: m, Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// progress prints a line every cfg.Progress until the returned func is called.
func (r *runner) progress(procs *procs) (stop func()) {
	if r.cfg.Progress <= 0 || r.cfg.Quiet {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.cfg.Progress)
		defer t.Stop()
		lastT, lastF, lastS := time.Now(), r.framesTotal(), r.sent.Load()
		lastCPU := procs.cpu()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				f, s, cpu := r.framesTotal(), r.sent.Load(), procs.cpu()
				dt := now.Sub(lastT).Seconds()
				line := fmt.Sprintf("%-8s %6.1fs live=%d", r.phase.Load(), time.Since(r.start).Seconds(), r.live.Load())
				if s > 0 {
					line += fmt.Sprintf(" sent=%.0f/s deliveries=%s/s", float64(s-lastS)/dt, si(float64(f-lastF)/dt))
				}
				if r.firstSeq.Load() != math.MaxInt64 {
					h := &hist{}
					for _, g := range r.groups {
						h.merge(g.latency())
					}
					line += fmt.Sprintf(" p50=%s p99=%s", ms(h.quantile(0.5)), ms(h.quantile(0.99)))
				}
				if procs.n() > 0 {
					line += fmt.Sprintf(" server-cpu=%.0f%%", (cpu-lastCPU).Seconds()/dt*100)
				}
				if d := r.discon.Load(); d > 0 {
					line += fmt.Sprintf(" disconnects=%d", d)
				}
				fmt.Fprintln(r.log, line)
				lastT, lastF, lastS, lastCPU = now, f, s, cpu
			}
		}
	}()
	return func() { close(done); <-finished }
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// si formats n with a k or M suffix.
func si(n float64) string {
	switch {
	case n >= 1e6:
		return strconv.FormatFloat(n/1e6, 'f', 2, 64) + "M"
	case n >= 1e3:
		return strconv.FormatFloat(n/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(n, 'f', 0, 64)
}

// ms formats nanoseconds as milliseconds.
func ms(ns uint64) string { return strconv.FormatFloat(float64(ns)/1e6, 'f', 2, 64) + "ms" }
