package natstest_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/megaframework/mega/framework/natstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func connect(t *testing.T, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(natstest.URL(s))
	if err != nil {
		t.Fatalf("connect to %s: %v", natstest.URL(s), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// crossDelivery publishes on pub until sub's subscription receives a
// message (interest needs a moment to propagate over routes).
func crossDelivery(t *testing.T, pubSrv, subSrv *server.Server, subject string) {
	t.Helper()
	is := is.New(t)
	sub := connect(t, subSrv)
	pub := connect(t, pubSrv)
	ch := make(chan *nats.Msg, 64)
	s, err := sub.ChanSubscribe(subject, ch)
	is.NoErr(err)
	defer s.Unsubscribe()
	is.NoErr(sub.Flush())

	var got *nats.Msg
	natstest.WaitFor(t, 5*time.Second, "message to cross the cluster", func() bool {
		select {
		case got = <-ch:
			return true
		default:
			is.NoErr(pub.Publish(subject, []byte("hello")))
			is.NoErr(pub.Flush())
			return false
		}
	})
	is.Equal(string(got.Data), "hello")
}

func TestStartServer(t *testing.T) {
	is := is.New(t)
	s := natstest.StartServer(t)
	is.True(s.Running())
	is.True(strings.HasPrefix(natstest.URL(s), "nats://127.0.0.1:"))
	crossDelivery(t, s, s, "mega.test.single")
}

func TestStartClusterDeliversAcrossServers(t *testing.T) {
	is := is.New(t)
	start := time.Now()
	servers := natstest.StartCluster(t, 3)
	t.Logf("cluster of 3 formed in %s", time.Since(start))
	is.Equal(len(servers), 3)
	for _, s := range servers {
		is.Equal(s.NumRoutes(), 2)
		is.Equal(s.ClusterName(), natstest.ClusterName)
	}
	crossDelivery(t, servers[0], servers[2], "mega.test.cluster")
}

func TestRestartSingleServerKeepsPort(t *testing.T) {
	is := is.New(t)
	s := natstest.StartServer(t)
	url := natstest.URL(s)
	s2 := natstest.Restart(t, s)
	is.True(!s.Running())
	is.True(s2.Running())
	is.Equal(natstest.URL(s2), url)
	// The restarted server can be restarted again.
	s3 := natstest.Restart(t, s2)
	is.Equal(natstest.URL(s3), url)
	crossDelivery(t, s3, s3, "mega.test.restart")
}

func TestRestartClusterMemberRejoins(t *testing.T) {
	for i := range 3 {
		t.Run(fmt.Sprintf("member%d", i+1), func(t *testing.T) {
			is := is.New(t)
			servers := natstest.StartCluster(t, 3)
			url := natstest.URL(servers[i])
			servers[i] = natstest.Restart(t, servers[i])
			is.Equal(natstest.URL(servers[i]), url)
			for _, s := range servers {
				is.Equal(s.NumRoutes(), 2)
			}
			other := servers[(i+1)%3]
			crossDelivery(t, other, servers[i], "mega.test.rejoin.to")
			crossDelivery(t, servers[i], other, "mega.test.rejoin.from")
		})
	}
}

func TestStartClusterOfOne(t *testing.T) {
	is := is.New(t)
	servers := natstest.StartCluster(t, 1)
	is.Equal(len(servers), 1)
	is.Equal(servers[0].NumRoutes(), 0)
}

// fakeTB records Fatalf instead of failing the real test.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWaitFor(t *testing.T) {
	is := is.New(t)
	n := 0
	natstest.WaitFor(t, time.Second, "three calls", func() bool { n++; return n == 3 })
	is.Equal(n, 3)

	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		natstest.WaitFor(f, 20*time.Millisecond, "godot", func() bool { return false })
	}()
	<-done
	is.Equal(f.failed, "timed out after 20ms waiting for godot")
}
