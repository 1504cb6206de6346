//go:build unix

package devloop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/megaframework/mega/framework/bus"
	"github.com/megaframework/mega/framework/config"
	"github.com/megaframework/mega/internal/devproto"
)

// Environment variables the supervisor sets for the apps it runs, besides
// the dev protocol's (devproto.Env*), which the framework's dev mode reads.
const (
	envPort = "PORT"
	envNATS = "NATS_URL"
)

// portWait bounds the wait for a stopped instance's port beyond the grace
// period (a process outside the group may hold it).
const portWait = 3 * time.Second

// supervisor runs the dev loop. Every field below is owned by the loop
// goroutine; restarts run instances in parallel but each goroutine only
// touches its own instance, and the loop waits for them.
type supervisor struct {
	opts    Options
	con     *console
	tmpDir  string
	madeTmp bool
	bin     string // tmp/app: what the instances run
	next    string // tmp/app.next: where a build writes
	bus     *bus.Bus
	natsURL string
	subject string // mega dev's notices to the apps
	insts   []*instance
	build   func(ctx context.Context) buildResult // goBuild, or a fake in tests

	haveBin  bool
	binSum   digest
	diskDirs []string // directories the running app serves from disk

	wg      sync.WaitGroup // goroutines the loop started
	builds  chan buildDone
	exits   chan procEvent
	readies chan readyEvent
}

// instance is one slot: at most one process at a time, on one port.
type instance struct {
	n           int
	port        int
	name        string // "app:8080"
	color       string
	proc        *process
	save        time.Time // the save the running process was built for
	cancelReady context.CancelFunc
}

type buildDone struct {
	gen int
	res buildResult
}

type procEvent struct {
	in   *instance
	proc *process
}

type readyEvent struct {
	procEvent
	static []string // directories served from disk, from devproto.InfoPath
}

func newSupervisor(opts Options) *supervisor {
	s := &supervisor{
		opts:    opts,
		con:     &console{w: opts.Out, color: opts.Color},
		tmpDir:  filepath.Join(opts.Dir, "tmp"),
		subject: devproto.DefaultSubject + "." + randomID(),
		builds:  make(chan buildDone),
		exits:   make(chan procEvent),
		readies: make(chan readyEvent),
	}
	s.bin = filepath.Join(s.tmpDir, "app")
	s.next = filepath.Join(s.tmpDir, "app.next")
	for i := range opts.Instances {
		port := opts.Port + i
		s.insts = append(s.insts, &instance{
			n: i, port: port, name: "app:" + strconv.Itoa(port),
			color: instanceColors[i%len(instanceColors)],
		})
	}
	s.build = func(ctx context.Context) buildResult { return goBuild(ctx, opts.Dir, s.next, opts.Env) }
	return s
}

func run(ctx context.Context, opts Options) error {
	s := newSupervisor(opts)
	if err := s.start(ctx); err != nil {
		s.close()
		return err
	}
	defer s.close()
	w, err := NewWatcher(opts.Dir, opts.Delay, func(err error) { s.con.status("%v", err) })
	if err != nil {
		return err
	}
	defer w.Close()
	ports := make([]string, len(s.insts))
	for i, in := range s.insts {
		ports[i] = ":" + strconv.Itoa(in.port)
	}
	s.con.status("mega dev in %s: %d instance(s) on %s, NATS at %s", opts.Dir, len(s.insts), strings.Join(ports, ", "), s.natsURL)
	s.con.status("watching %d files; Ctrl-C stops everything", w.files)
	s.loop(ctx, w.Batches())
	return nil
}

// start creates tmp/ and opens the bus: the embedded nats-server the
// instances share, or NATS_URL when the environment sets one. The embedded
// server runs JetStream for channels that keep history, with its files in
// data/nats, where the app's own embedded server keeps them too.
func (s *supervisor) start(ctx context.Context) error {
	if _, err := os.Stat(s.tmpDir); errors.Is(err, fs.ErrNotExist) {
		s.madeTmp = true
	}
	if err := os.MkdirAll(s.tmpDir, 0o755); err != nil {
		return err
	}
	url := lookupEnv(s.opts.Env, envNATS)
	if url == "" || url == bus.EmbeddedURL {
		url = bus.EmbeddedURL
	} else {
		s.con.status("using NATS_URL from the environment: %s", url)
	}
	b, err := bus.Open(ctx, bus.Options{
		URL: url, Name: "mega-dev", BusName: "mega dev", Logger: zerolog.Nop(),
		JetStreamDir: filepath.Join(s.opts.Dir, filepath.FromSlash(config.DefaultStoreDir)),
	})
	if err != nil {
		return err
	}
	s.bus = b
	s.natsURL = b.ClientURL()
	return nil
}

// close stops the bus and removes what the loop wrote in tmp/ (tmp/
// itself when the loop created it or it is left empty).
func (s *supervisor) close() {
	if s.bus != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.bus.Close(ctx)
		cancel()
	}
	_ = os.Remove(s.bin)
	_ = os.Remove(s.next)
	if s.madeTmp {
		_ = os.RemoveAll(s.tmpDir)
	} else {
		_ = os.Remove(s.tmpDir) // only if empty: it held something else
	}
}

// loop is the dev loop's state machine: it reacts to batches of changes,
// finished builds, exited and ready instances, until ctx ends.
func (s *supervisor) loop(ctx context.Context, batches <-chan Batch) {
	var (
		gen          int                // of the latest build
		cancelBuild  context.CancelFunc // non-nil while a build runs
		buildSave    time.Time          // the save that started it
		buildAssets  []string           // assets that asked for it
		restartAfter bool               // a config change waits for it
	)
	startBuild := func(save time.Time) {
		if cancelBuild != nil {
			cancelBuild()
			s.con.status("newer change: the running build is canceled")
		} else {
			buildSave = save
		}
		s.con.status("building…")
		gen++
		bctx, cancel := context.WithCancel(ctx)
		cancelBuild = cancel
		my := gen
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			res := s.build(bctx)
			select {
			case s.builds <- buildDone{gen: my, res: res}:
			case <-ctx.Done():
			}
		}()
	}

	startBuild(time.Time{})
	for {
		select {
		case <-ctx.Done():
			if cancelBuild != nil {
				cancelBuild()
			}
			s.con.status("stopping…")
			s.stopAll()
			s.wg.Wait()
			s.con.status("stopped: no process left running")
			return

		case b := <-batches:
			s.con.status("changed: %s", describe(b))
			rebuild := b.Has(Source)
			var reload []string
			for _, p := range b.Paths(Asset) {
				if s.servedFromDisk(p) {
					reload = append(reload, p)
				} else {
					rebuild = true
					buildAssets = append(buildAssets, p)
				}
			}
			if len(reload) > 0 {
				s.notify(devproto.Reload{Files: reload})
				s.con.status("reloading browsers: served from disk, nothing to build")
			}
			switch {
			case rebuild:
				restartAfter = restartAfter || b.Has(Config)
				startBuild(b.First)
			case b.Has(Config) && cancelBuild != nil:
				restartAfter = true
			case b.Has(Config) && s.haveBin:
				s.con.status("config changed: restarting with the same build")
				s.restartAll(ctx, b.First)
			}

		case d := <-s.builds:
			if d.gen != gen {
				continue // superseded by a newer change
			}
			cancelBuild()
			cancelBuild = nil
			res, assets, restart := d.res, buildAssets, restartAfter
			buildAssets, restartAfter = nil, false
			if res.canceled {
				continue
			}
			if !res.ok {
				s.con.statusColor(colorError, "build failed in %s; %s:", round(res.took), s.keepsRunning())
				s.con.block(res.output)
				s.notify(devproto.Build{OK: false, Output: res.output})
				if restart && s.haveBin {
					s.con.status("config changed: restarting with the previous build")
					s.restartAll(ctx, buildSave)
				}
				continue
			}
			s.notify(devproto.Build{OK: true})
			sum, err := hashFile(s.next)
			if err == nil && s.haveBin && sum == s.binSum && s.allRunning() && !restart {
				_ = os.Remove(s.next)
				s.con.status("built in %s: the binary did not change, the instances keep running", round(res.took))
				if len(assets) > 0 {
					s.notify(devproto.Reload{Files: assets})
				}
				continue
			}
			if err := os.Rename(s.next, s.bin); err != nil {
				s.con.statusColor(colorError, "build ok but cannot install it: %v", err)
				continue
			}
			s.binSum, s.haveBin = sum, true
			s.con.statusColor(colorOK, "built in %s", round(res.took))
			s.restartAll(ctx, buildSave)

		case e := <-s.exits:
			if e.in.proc != e.proc {
				continue // stopped on purpose
			}
			e.in.proc = nil
			if e.in.cancelReady != nil {
				e.in.cancelReady()
			}
			s.con.statusColor(colorError, "%s exited (%s); save a file to rebuild and restart it", e.in.name, exitStatus(e.proc.err))

		case r := <-s.readies:
			if r.in.proc != r.proc {
				continue
			}
			if r.static != nil {
				s.diskDirs = r.static
			}
			took := time.Since(r.proc.started)
			if r.in.save.IsZero() {
				s.con.statusColor(colorOK, "ready: %s (http://localhost:%d) in %s", r.in.name, r.in.port, round(took))
			} else {
				s.con.statusColor(colorOK, "ready: %s in %s, %s after the save", r.in.name, round(took), round(time.Since(r.in.save)))
			}
		}
	}
}

// restartAll restarts every instance with the current binary, in parallel.
func (s *supervisor) restartAll(ctx context.Context, save time.Time) {
	var wg sync.WaitGroup
	for _, in := range s.insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.restart(ctx, in, save)
		}()
	}
	wg.Wait()
}

// restart stops an instance's process (if any), waits for its port, and
// starts the current binary in its place.
func (s *supervisor) restart(ctx context.Context, in *instance, save time.Time) {
	if ctx.Err() != nil {
		return
	}
	stopped := s.stop(in)
	if err := waitPortFree(ctx, in.port, portWait); err != nil {
		if ctx.Err() != nil {
			return
		}
		s.con.statusColor(colorError, "%s: port %d is in use by another process; starting anyway", in.name, in.port)
	}
	out := s.con.prefixed("["+in.name+"]", in.color)
	p, err := startProcess(s.bin, s.opts.Args, s.opts.Dir, s.env(in), out)
	if err != nil {
		s.con.statusColor(colorError, "%s: cannot start: %v", in.name, err)
		return
	}
	in.proc, in.save = p, save
	rctx, cancel := context.WithCancel(ctx)
	in.cancelReady = cancel
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		select {
		case <-p.done:
			select {
			case s.exits <- procEvent{in, p}:
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
	}()
	go func() {
		defer s.wg.Done()
		s.watchReady(rctx, in, p)
	}()
	if stopped != "" {
		s.con.status("restarted %s (pid %d; the previous one %s)", in.name, p.pid, stopped)
	} else {
		s.con.status("started %s (pid %d)", in.name, p.pid)
	}
}

// stop ends an instance's process and says how it went ("" when there was
// none).
func (s *supervisor) stop(in *instance) string {
	if in.cancelReady != nil {
		in.cancelReady()
		in.cancelReady = nil
	}
	p := in.proc
	if p == nil {
		return ""
	}
	in.proc = nil
	t := time.Now()
	if p.stop(s.opts.Grace) {
		return fmt.Sprintf("did not stop within %s and was killed", s.opts.Grace)
	}
	return "stopped in " + round(time.Since(t)).String()
}

// stopAll stops every instance, in parallel.
func (s *supervisor) stopAll() {
	var wg sync.WaitGroup
	for _, in := range s.insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.stop(in)
		}()
	}
	wg.Wait()
}

// watchReady polls the instance's GET /readyz until it answers 200 (or
// 404: an app without one), then reports it with the directories the app
// serves from disk.
func (s *supervisor) watchReady(ctx context.Context, in *instance, p *process) {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	base := "http://127.0.0.1:" + strconv.Itoa(in.port)
	deadline := time.NewTimer(s.opts.ReadyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(15 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.done:
			return // reported as an exit
		case <-deadline.C:
			s.con.statusColor(colorError, "%s: not ready after %s (GET /readyz)", in.name, s.opts.ReadyTimeout)
			return
		case <-tick.C:
		}
		status, _ := get(ctx, client, base+"/readyz")
		if status != http.StatusOK && status != http.StatusNotFound {
			continue
		}
		ev := readyEvent{procEvent: procEvent{in, p}}
		if status, body := get(ctx, client, base+devproto.InfoPath); status == http.StatusOK {
			var info devproto.Info
			if json.Unmarshal(body, &info) == nil && info.Static != nil {
				ev.static = info.Static
			}
		}
		select {
		case s.readies <- ev:
		case <-ctx.Done():
		}
		return
	}
}

func get(ctx context.Context, c *http.Client, url string) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, body
}

// servedFromDisk reports whether the running app serves the file at rel
// from disk (mega.StaticFS in dev mode), so a reload shows the change.
func (s *supervisor) servedFromDisk(rel string) bool {
	abs := filepath.Join(s.opts.Dir, filepath.FromSlash(rel))
	for _, d := range s.diskDirs {
		if r, err := filepath.Rel(d, abs); err == nil && !strings.HasPrefix(r, "..") && !filepath.IsAbs(r) {
			return true
		}
	}
	return false
}

// allRunning reports whether every instance has a process.
func (s *supervisor) allRunning() bool {
	for _, in := range s.insts {
		if in.proc == nil {
			return false
		}
	}
	return true
}

// keepsRunning says what serves while a build is broken.
func (s *supervisor) keepsRunning() string {
	var names []string
	for _, in := range s.insts {
		if in.proc != nil {
			names = append(names, in.name)
		}
	}
	switch len(names) {
	case 0:
		return "nothing is running yet; fix the error and save"
	case 1:
		return names[0] + " keeps running the previous build"
	}
	return strings.Join(names, ", ") + " keep running the previous build"
}

// env is an instance's environment: mega dev's own, plus its port, the
// shared NATS and dev mode.
func (s *supervisor) env(in *instance) []string {
	return setEnv(s.opts.Env,
		envPort, strconv.Itoa(in.port),
		envNATS, s.natsURL,
		devproto.EnvDev, "1",
		devproto.EnvNATS, s.natsURL,
		devproto.EnvSubject, s.subject,
		devproto.EnvInstance, strconv.Itoa(in.n),
	)
}

// notify publishes a notice to the apps, which forward it to browsers.
func (s *supervisor) notify(n devproto.Notice) {
	data, err := devproto.Encode(n)
	if err != nil || s.bus == nil {
		return
	}
	_ = s.bus.Conn().Publish(s.subject, data)
}

// describe lists a batch's files for a status line.
func describe(b Batch) string {
	const most = 5
	var parts []string
	for _, c := range b.Changes {
		p := c.Path
		if c.Removed {
			p += " (removed)"
		}
		parts = append(parts, p)
	}
	slices.Sort(parts)
	if len(parts) > most {
		return strings.Join(parts[:most], ", ") + fmt.Sprintf(" and %d more", len(parts)-most)
	}
	return strings.Join(parts, ", ")
}

// setEnv returns env with each key of kv (key, value, key, value, …) set,
// replacing earlier values.
func setEnv(env []string, kv ...string) []string {
	out := make([]string, 0, len(env)+len(kv)/2)
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		replaced := false
		for i := 0; i < len(kv); i += 2 {
			if kv[i] == k {
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, e)
		}
	}
	for i := 0; i < len(kv); i += 2 {
		out = append(out, kv[i]+"="+kv[i+1])
	}
	return out
}

// lookupEnv returns the value of key in env ("" when unset).
func lookupEnv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// round shortens a duration for status lines.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
