package testkit_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"
	"go.uber.org/goleak"

	"github.com/megaframework/mega/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPoll(t *testing.T) {
	tests := []struct {
		name      string
		timeout   time.Duration
		holdsFrom int // the call from which cond holds; 0: never
		ok        bool
		minCalls  int
	}{
		{name: "holds at once", timeout: time.Second, holdsFrom: 1, ok: true, minCalls: 1},
		{name: "holds on the fifth call", timeout: 5 * time.Second, holdsFrom: 5, ok: true, minCalls: 5},
		{name: "never holds", timeout: 50 * time.Millisecond, ok: false, minCalls: 2},
		{name: "zero timeout still calls once", timeout: 0, ok: false, minCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			calls := 0
			took, ok := testkit.Poll(tt.timeout, func() bool {
				calls++
				return tt.holdsFrom > 0 && calls >= tt.holdsFrom
			})
			is.Equal(ok, tt.ok)
			is.True(calls >= tt.minCalls)
			if tt.ok {
				is.Equal(calls, tt.holdsFrom) // no call after it held
				is.True(took < tt.timeout)
			} else {
				is.True(took >= tt.timeout) // gave up only after the deadline
			}
		})
	}
}

// TestPollEveryPauses checks the pauses: short at first, growing to every
// and never beyond it.
func TestPollEveryPauses(t *testing.T) {
	tests := []struct {
		name  string
		every time.Duration
	}{
		{name: "default", every: testkit.Pause},
		{name: "long", every: 40 * time.Millisecond},
		{name: "below the first pause", every: 200 * time.Microsecond},
		{name: "none", every: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var calls []time.Time
			_, ok := testkit.PollEvery(time.Second, tt.every, func() bool {
				calls = append(calls, time.Now())
				return len(calls) == 8
			})
			is.True(ok)
			first := calls[1].Sub(calls[0])
			// The first pause is short even when every is long (a sleep
			// overshoots, so compare with a wide margin).
			is.True(first < min(tt.every, testkit.FirstPause)+20*time.Millisecond)
			for i := 1; i < len(calls); i++ {
				is.True(calls[i].Sub(calls[i-1]) >= min(tt.every, testkit.FirstPause)) // slept at least the shortest pause
			}
			if tt.every >= 4*testkit.FirstPause {
				// Eight calls with doubling pauses reach every.
				last := calls[7].Sub(calls[6])
				is.True(last >= tt.every)
			}
		})
	}
}

// TestPollAnyGoroutine polls from several goroutines at once, on a
// condition another goroutine makes true.
func TestPollAnyGoroutine(t *testing.T) {
	is := is.New(t)
	var flag atomic.Bool
	var wg sync.WaitGroup
	oks := make([]bool, 4)
	for i := range oks {
		wg.Go(func() { _, oks[i] = testkit.Poll(5*time.Second, flag.Load) })
	}
	flag.Store(true)
	wg.Wait()
	is.Equal(oks, []bool{true, true, true, true})
}

// recorder is a testing.TB that records Fatalf instead of stopping the
// test, so the failing path of WaitFor can be tested.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestWaitFor(t *testing.T) {
	tests := []struct {
		name    string
		cond    func() bool
		timeout time.Duration
		failed  string
	}{
		{name: "holds", cond: func() bool { return true }, timeout: time.Second},
		{name: "deadline", cond: func() bool { return false }, timeout: 30 * time.Millisecond, failed: "timed out after 30ms waiting for the thing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			r := &recorder{TB: t}
			took := testkit.WaitFor(r, tt.timeout, "the thing", tt.cond)
			is.Equal(r.failed, tt.failed)
			if tt.failed != "" {
				is.True(took >= tt.timeout)
			}
		})
	}
}

func TestFreePorts(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{name: "one", n: 1},
		{name: "three", n: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			base := testkit.FreePorts(t, tt.n)
			is.True(base >= 1024)
			for p := base; p < base+tt.n; p++ {
				l, err := net.Listen("tcp", ":"+strconv.Itoa(p)) // free indeed
				is.NoErr(err)
				is.NoErr(l.Close())
			}
		})
	}
}

// TestFreePortAvoids hands out ports while avoiding the ones already
// handed out: none repeats even though none is bound.
func TestFreePortAvoids(t *testing.T) {
	is := is.New(t)
	var taken []int
	for range 50 {
		p := testkit.FreePort(t, taken...)
		for _, q := range taken {
			is.True(p != q)
		}
		taken = append(taken, p)
	}
}

func TestBuffer(t *testing.T) {
	is := is.New(t)
	var b testkit.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("ab"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	is.Equal(b.Len(), 8*100*2)
	is.Equal(b.String()[:4], "abab")
}

func TestFetch(t *testing.T) {
	is := is.New(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Method", r.Method)
		_, _ = w.Write([]byte("accept=" + r.Header.Get("Accept")))
	}))
	defer srv.Close()
	res, body := testkit.Fetch(t, http.MethodHead, srv.URL, nil)
	is.Equal(res.Header.Get("X-Method"), "HEAD")
	is.Equal(body, "") // a HEAD has no body
	res, body = testkit.Fetch(t, http.MethodGet, srv.URL, http.Header{"Accept": {"text/html"}})
	is.Equal(res.StatusCode, http.StatusOK)
	is.Equal(body, "accept=text/html")
}
