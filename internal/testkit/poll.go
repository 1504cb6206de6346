package testkit

import (
	"testing"
	"time"
)

// The pauses between two calls of a condition start short and double up
// to a limit, so a condition that holds almost at once is seen almost at
// once and one that takes seconds is not called thousands of times.
const (
	// FirstPause is the first pause of Poll, PollEvery and WaitFor.
	FirstPause = time.Millisecond
	// Pause is the longest pause of Poll and WaitFor.
	Pause = 10 * time.Millisecond
)

// Poll calls cond until it returns true or timeout has passed, and reports
// how long that took and whether cond held. cond is called at once, then
// after pauses growing from FirstPause to Pause, and once more after the
// deadline has passed. Poll may run on any goroutine.
func Poll(timeout time.Duration, cond func() bool) (time.Duration, bool) {
	return PollEvery(timeout, Pause, cond)
}

// PollEvery is Poll whose pauses grow from FirstPause up to every instead
// of Pause: for a condition that is costly to check (a browser round trip,
// a request that counts against a rate limit). With every at or below
// FirstPause it pauses every each time; with every 0, not at all (cond
// waits by itself, such as a probe that sends and waits for the answer).
func PollEvery(timeout, every time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	deadline := start.Add(timeout)
	pause := min(FirstPause, every)
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Now().After(deadline) {
			return time.Since(start), false
		}
		if pause > 0 {
			time.Sleep(pause)
		}
		pause = min(2*pause, every)
	}
}

// WaitFor is Poll for a test: it returns how long cond took to hold, or
// fails the test with "timed out after <timeout> waiting for <what>". Call
// it from the test's goroutine (it calls t.Fatalf); on another goroutine
// use Poll.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	took, ok := Poll(timeout, cond)
	if !ok {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
	return took
}
