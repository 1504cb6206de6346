package mega_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"

	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/megatest"
)

// worker is a channel whose "work" handler runs until released, and whose
// "wait" handler runs until its connection's context ends.
type worker struct {
	started   chan struct{}
	release   chan struct{}
	cancelled atomic.Int32
}

func (w *worker) OnConnect(ctx *mega.Ctx) error { return nil }

func (w *worker) OnMessage(ctx *mega.Ctx, msg mega.Message) error {
	switch msg.Type {
	case "work":
		w.started <- struct{}{}
		<-w.release
		return ctx.Reply(msg, "done", nil)
	case "wait":
		w.started <- struct{}{}
		<-ctx.Context().Done()
		w.cancelled.Add(1)
		return nil
	case "ping":
		return ctx.Reply(msg, "pong", nil)
	}
	return mega.ErrUnknownType
}

func startWorker(t *testing.T) (*megatest.Server, *worker) {
	w := &worker{started: make(chan struct{}, 16), release: make(chan struct{})}
	app := mega.NewApp("w")
	app.Channel("/ws/work", w)
	return megatest.Start(t, app), w
}

func TestShutdownLetsInFlightHandlersFinish(t *testing.T) {
	is := is.New(t)
	srv, w := startWorker(t)
	busy := srv.Dial(t, "/ws/work")
	var others []*megatest.Client
	for range 20 {
		others = append(others, srv.Dial(t, "/ws/work"))
	}
	busy.PushRef(t, "work", nil, "job-1")
	<-w.started
	// Load while shutting down: everyone else keeps sending.
	for _, c := range others {
		for range 5 {
			c.PushRef(t, "ping", nil, "p")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- srv.App.Shutdown(ctx) }()
	close(w.release) // the handler finishes during the shutdown

	is.NoErr(<-result)
	is.Equal(busy.Expect(t, "done").Ref, "job-1") // its reply was delivered before the close
	is.Equal(busy.ExpectClose(t), mega.CloseGoingAway)
	for _, c := range others {
		is.Equal(c.ExpectClose(t), mega.CloseGoingAway)
	}
}

func TestShutdownDeadlineCancelsStuckHandlers(t *testing.T) {
	is := is.New(t)
	srv, w := startWorker(t)
	c := srv.Dial(t, "/ws/work")
	c.Push(t, "wait", nil)
	<-w.started

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := srv.App.Shutdown(ctx)
	took := time.Since(start)
	is.True(err != nil) // the deadline passed with a handler running
	is.True(took < 300*time.Millisecond+2*time.Second)
	is.Equal(w.cancelled.Load(), int32(1)) // the handler saw its context end
	c.ExpectClose(t)
}

// keeper remembers its connection's Ctx and signals when it disconnects.
type keeper struct {
	ctx  chan *mega.Ctx
	gone chan struct{}
}

func (k *keeper) OnConnect(ctx *mega.Ctx) error           { k.ctx <- ctx; return nil }
func (k *keeper) OnMessage(*mega.Ctx, mega.Message) error { return mega.ErrUnknownType }
func (k *keeper) OnDisconnect(*mega.Ctx, error)           { close(k.gone) }

func TestSendAfterDisconnectIsErrClosed(t *testing.T) {
	is := is.New(t)
	k := &keeper{ctx: make(chan *mega.Ctx, 1), gone: make(chan struct{})}
	app := mega.NewApp("k")
	app.Channel("/ws/k", k)
	srv := megatest.Start(t, app)
	c := srv.Dial(t, "/ws/k")
	ctx := <-k.ctx
	is.NoErr(ctx.Send("hello", nil))
	c.Expect(t, "hello")

	c.Close()
	select {
	case <-k.gone:
	case <-time.After(megatest.Timeout):
		t.Fatal("OnDisconnect was not called")
	}
	err := ctx.Send("late", nil)
	is.True(errors.Is(err, mega.ErrClosed))
}
