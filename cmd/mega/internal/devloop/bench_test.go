//go:build unix

package devloop

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/megaframework/mega/internal/testkit"
)

// BenchmarkSaveToServing measures what a developer waits for: from saving
// a Go file to the new version serving, through the whole loop (the
// debounce, go build, stopping the old process, starting the new one, its
// boot until /readyz answers). Each iteration also times a bare `go build`
// of the same kind of edit of the same app, as the baseline. It reports
// medians, and the loop's overhead: save→serving minus the loop's own
// build, per save (the part that is not go build):
//
//	go test -run '^$' -bench SaveToServing -benchtime 7x ./cmd/mega/internal/devloop/
//
// The app is the generated sample (sample/crud) when the checkout has it,
// else the test fixture (testdata/app). The edit rewrites devbench.go in
// the app's main package, whose init prints the version: the new version
// serves once that line came from the new process and /readyz answers.
func BenchmarkSaveToServing(b *testing.B) {
	name, dir := "fixture", ""
	if sample := filepath.Join(repoRoot(b), "sample", "crud"); fileExists(filepath.Join(sample, "go.mod")) {
		name, dir = "sample-crud", copyApp(b, sample)
	} else {
		dir = copyFixture(b)
	}
	b.Run(name, func(b *testing.B) { benchSaveToServing(b, dir) })
}

func benchSaveToServing(b *testing.B, dir string) {
	version := 0
	edit := func() string {
		version++
		v := "devbench v" + strconv.Itoa(version)
		src := "package main\n\nimport \"fmt\"\n\nfunc init() { fmt.Println(\"" + v + "\") }\n"
		if err := os.WriteFile(filepath.Join(dir, "devbench.go"), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
		return v
	}
	edit()
	d := startDevB(b, dir)
	serving := func(v string, timeout time.Duration) {
		b.Helper()
		d.waitOutput(b, "] "+v+"\n", timeout)
		testkit.WaitFor(b, timeout, "/readyz", func() bool { return fetch(portURL(d.port, "/readyz")) != "" })
	}
	serving("devbench v1", firstBuild)

	var loop, bare, built, overhead []time.Duration
	b.ResetTimer()
	for range b.N {
		// Baseline: a bare go build of an edit, once the loop is idle again
		// (its tmp/ is not watched).
		serving(edit(), time.Minute)
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", filepath.Join("tmp", "bare"), ".")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
		bare = append(bare, time.Since(start))

		// The loop: save → the new version serves.
		mark := len(d.out.String())
		start = time.Now()
		serving(edit(), time.Minute)
		loop = append(loop, time.Since(start))
		if m := regexp.MustCompile(`built in (\S+)`).FindStringSubmatch(d.out.String()[mark:]); m != nil {
			if t, err := time.ParseDuration(m[1]); err == nil {
				built = append(built, t)
				overhead = append(overhead, loop[len(loop)-1]-t)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(ms(median(loop)), "save-to-serving-ms")
	b.ReportMetric(ms(median(bare)), "go-build-ms")
	b.ReportMetric(ms(median(built)), "loop-build-ms")
	b.ReportMetric(ms(median(overhead)), "overhead-ms")
	b.ReportMetric(float64(median(loop))/float64(median(bare)), "x-go-build")
	b.ReportMetric(0, "ns/op")
	b.Logf("n=%d save→serving %v; bare go build %v; the loop's own build %v", len(loop), loop, bare, built)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// startDevB runs mega dev on dir for a benchmark, with the default
// debounce.
func startDevB(b *testing.B, dir string) *devRun {
	b.Helper()
	out := &testkit.Buffer{}
	port := testkit.FreePorts(b, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Dir: dir, Port: port, Out: out, Env: setEnv(os.Environ(), "NATS_URL", "")})
	}()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
		if b.Failed() || os.Getenv("DEVLOOP_SHOW") != "" {
			fmt.Fprintln(os.Stderr, out.String())
		}
	})
	return &devRun{dir: dir, port: port, out: out}
}

// BenchmarkStaticReload measures a static-file save on the fixture (served
// with mega.Static, so from disk in dev mode) until the reload notice
// reaches a page's event stream: no build, no restart.
//
//	go test -run '^$' -bench StaticReload -benchtime 7x ./cmd/mega/internal/devloop/
func BenchmarkStaticReload(b *testing.B) {
	dir := copyFixture(b)
	d := startDevB(b, dir)
	d.waitVersion(b, d.port, "v1", firstBuild)
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		es := openEvents(b, d.port)
		es.expect(b, `"id"`)
		start := time.Now()
		css := fmt.Sprintf("h1 { color: #%06x; }\n", i)
		if err := os.WriteFile(filepath.Join(dir, "static", "style.css"), []byte(css), 0o644); err != nil {
			b.Fatal(err)
		}
		es.expect(b, `"type":"reload"`)
		took = append(took, time.Since(start))
		es.body.Close()
	}
	b.StopTimer()
	b.ReportMetric(ms(median(took)), "save-to-notice-ms")
	b.ReportMetric(0, "ns/op")
}
