// Package exampletest is a stand-in for the *testing.T that runnable
// Examples do not get, so the framework's and megatest's examples can call
// megatest (Start, Dial, Expect) as a test does.
package exampletest

import (
	"fmt"
	"os"
	"testing"
)

// T implements only what megatest calls: Helper, Cleanup, Fatalf, Errorf,
// Logf and TempDir; the embedded testing.TB is nil, so any other method
// panics.
// Every example starts with
//
//	t := exampletest.New()
//	defer t.Done()
//
// Done runs the cleanups, last registered first as testing does (the
// clients close, then the app shuts down and its server closes), so no
// goroutine outlives the example. Errorf and Fatalf print to standard
// output, which the example's "Output:" comment does not expect, so a
// failure fails the example; Fatalf also stops it. Logf writes to standard
// error, which examples do not compare.
type T struct {
	testing.TB
	cleanups []func()
}

// New returns a T with no cleanups yet.
func New() *T { return &T{} }

// fatal is the panic Fatalf stops an example with; Done recovers it.
type fatal struct{}

// Helper does nothing: example output has no file:line to improve.
func (t *T) Helper() {}

// Cleanup registers f for Done.
func (t *T) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

// Errorf prints the failure where the example's output is compared.
func (t *T) Errorf(format string, args ...any) {
	fmt.Printf("ERROR: "+format+"\n", args...)
}

// Fatalf prints the failure and stops the example; Done recovers.
func (t *T) Fatalf(format string, args ...any) {
	fmt.Printf("FATAL: "+format+"\n", args...)
	panic(fatal{})
}

// Logf writes to standard error, which examples do not compare.
func (t *T) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

// TempDir returns a new directory that Done removes (megatest's NATS
// keeps JetStream's files there).
func (t *T) TempDir() string {
	dir, err := os.MkdirTemp("", "mega-example-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// Done runs the cleanups, last first, and ends a Fatalf. It must be
// deferred directly (defer t.Done()) for its recover to work.
func (t *T) Done() {
	r := recover()
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
	if _, isFatal := r.(fatal); r != nil && !isFatal {
		panic(r)
	}
}
