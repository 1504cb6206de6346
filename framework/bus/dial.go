package bus

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// recordingDialer dials like nats.go's default dialer, and remembers why
// dials failed during the first connect. nats.go reports a refused first
// connect only as "no servers available"; the recorded reasons let Open
// say "connection refused" or "no such host" instead.
type recordingDialer struct {
	d      net.Dialer
	record atomic.Bool

	mu   sync.Mutex
	errs []error
}

func newRecordingDialer(timeout time.Duration) *recordingDialer {
	rd := &recordingDialer{d: net.Dialer{Timeout: timeout}}
	rd.record.Store(true)
	return rd
}

// Dial implements nats.CustomDialer.
func (rd *recordingDialer) Dial(network, address string) (net.Conn, error) {
	c, err := rd.d.Dial(network, address)
	if err != nil && rd.record.Load() {
		rd.mu.Lock()
		rd.errs = append(rd.errs, &dialError{addr: address, err: err})
		rd.mu.Unlock()
	}
	return c, err
}

// stop ends recording (after the first connect) and returns what failed.
func (rd *recordingDialer) stop() []error {
	rd.record.Store(false)
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.errs
}

// dialError is one failed dial, printed as its short reason.
type dialError struct {
	addr string
	err  error
}

func (e *dialError) Error() string { return e.addr + ": " + shortReason(e.err) }
func (e *dialError) Unwrap() error { return e.err }

// shortReason turns "dial tcp 127.0.0.1:4999: connect: connection refused"
// into "connection refused".
func shortReason(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	return err.Error()
}

// connectError is returned by Open when the first connect fails. It wraps
// ErrConnect, the nats.go error and each failed dial.
type connectError struct {
	urls    string // redacted
	busName string
	natsErr error
	dials   []error
	hint    string // which setting to check; "" for the default
}

func (e *connectError) Error() string {
	reason := e.natsErr.Error()
	if len(e.dials) > 0 {
		// One reason per address; with a single address the address is
		// already in the URL, so print only the reason.
		seen := map[string]bool{}
		var parts []string
		for _, d := range e.dials {
			var de *dialError
			s := d.Error()
			if len(e.dials) == 1 && errors.As(d, &de) {
				s = shortReason(de.err)
			}
			if !seen[s] {
				seen[s] = true
				parts = append(parts, s)
			}
		}
		// A server that answered and then failed (TLS, credentials) is
		// what nats.go reports; the refused dials come first.
		if !errors.Is(e.natsErr, nats.ErrNoServers) {
			parts = append(parts, e.natsErr.Error())
		}
		reason = strings.Join(parts, "; ")
	}
	hint := e.hint
	if hint == "" {
		hint = fmt.Sprintf("is nats-server running there? Set NATS_URL or services.buses.%s.url", busKey(e.busName))
	}
	return fmt.Sprintf("%s at %s (%s); %s", ErrConnect.Error(), e.urls, reason, hint)
}

func (e *connectError) Unwrap() []error {
	return append([]error{ErrConnect, e.natsErr}, e.dials...)
}
