package mega

import (
	"testing"
	"time"

	"github.com/matryer/is"
)

func TestReclaimer(t *testing.T) {
	is := is.New(t)
	freed := make(chan time.Time, 4)
	r := &reclaimer{min: 100, quiet: 50 * time.Millisecond, free: func() { freed <- time.Now() }}

	r.add(60) // below min: nothing is due
	r.mu.Lock()
	is.True(!r.armed)
	r.mu.Unlock()

	// A storm: enough bytes, added over longer than quiet. The reclaim
	// waits for quiet after the last one, and runs once.
	r.add(60)
	for range 4 {
		time.Sleep(20 * time.Millisecond) // bytes keep coming, less than quiet apart
		r.add(10)
	}
	last := time.Now()
	select {
	case at := <-freed:
		is.True(at.Sub(last) >= 40*time.Millisecond) // not before the storm was quiet
	case <-time.After(5 * time.Second):
		t.Fatal("no reclaim within 5s after the storm")
	}
	r.mu.Lock()
	is.Equal(r.bytes, 0)
	is.True(!r.armed)
	r.mu.Unlock()
	select {
	case <-freed:
		t.Fatal("reclaimed twice for one storm")
	case <-time.After(200 * time.Millisecond): // four times quiet: a second timer would have fired
	}

	// The next storm counts from zero.
	r.add(99)
	r.mu.Lock()
	is.True(!r.armed)
	r.mu.Unlock()
}
