// Package testkit holds the helpers the module's tests share: waiting for
// a condition with a deadline (Poll, PollEvery, WaitFor), free TCP ports
// (FreePort, FreePorts), a buffer safe for concurrent use (Buffer) and an
// HTTP request in one call (Fetch).
// Every package of the module imports it rather than keeping its own copy.
package testkit

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent use: a child process or a
// logger writes to it while the test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Len returns how many bytes were written so far.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}
