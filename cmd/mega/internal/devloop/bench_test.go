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
)

// BenchmarkSaveToServing measures what a developer waits for: from saving
// a Go file to the new version answering, through the whole loop (the
// debounce, go build, stopping the old process, starting the new one, its
// boot until /readyz). Each iteration also times a bare `go build` of the
// same kind of edit in the same app, as the baseline. It reports medians:
//
//	go test -run '^$' -bench SaveToServing -benchtime 7x ./cmd/mega/internal/devloop/
func BenchmarkSaveToServing(b *testing.B) {
	d := startDevB(b)
	d.waitVersion(b, d.port, "v1", firstBuild)

	var loop, bare, built []time.Duration
	version := 1
	edit := func() string {
		version++
		v := "v" + strconv.Itoa(version)
		p := filepath.Join(d.dir, "main.go")
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		src := regexp.MustCompile(`const version = "v\d+"`).ReplaceAllString(string(data), `const version = "`+v+`"`)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
		return v
	}
	b.ResetTimer()
	for range b.N {
		// Baseline: a bare go build of an edit, while the loop is idle
		// (its tmp/ is not watched).
		edit()
		d.waitVersion(b, d.port, "v"+strconv.Itoa(version), time.Minute)
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", filepath.Join("tmp", "bare"), ".")
		cmd.Dir = d.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
		bare = append(bare, time.Since(start))

		// The loop: save → the new version answers.
		mark := len(d.out.String())
		start = time.Now()
		v := edit()
		d.waitVersion(b, d.port, v, time.Minute)
		loop = append(loop, time.Since(start))
		if m := regexp.MustCompile(`built in (\S+)`).FindStringSubmatch(d.out.String()[mark:]); m != nil {
			if t, err := time.ParseDuration(m[1]); err == nil {
				built = append(built, t)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(ms(median(loop)), "save-to-serving-ms")
	b.ReportMetric(ms(median(bare)), "go-build-ms")
	b.ReportMetric(ms(median(built)), "loop-build-ms")
	b.ReportMetric(float64(median(loop))/float64(median(bare)), "x-go-build")
	b.ReportMetric(0, "ns/op")
	b.Logf("n=%d save→serving %v; bare go build %v; the loop's own build %v", len(loop), loop, bare, built)
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

// startDevB runs mega dev on the fixture for a benchmark, with the default
// debounce.
func startDevB(b *testing.B) *devRun {
	b.Helper()
	dir := copyFixture(b)
	out := &syncBuffer{}
	port := freePorts(b, 1)
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
		if b.Failed() {
			fmt.Fprintln(os.Stderr, out.String())
		}
	})
	return &devRun{dir: dir, port: port, out: out}
}
