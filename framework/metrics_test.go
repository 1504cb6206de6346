package mega_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/matryer/is"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	mega "github.com/megaframework/mega/framework"

	"github.com/megaframework/mega/framework/megatest"
	"github.com/megaframework/mega/framework/natstest"
)

// scrape fetches and parses an instance's metrics with Prometheus's own
// text parser.
func scrape(t *testing.T, srv *megatest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	url := srv.Instance.MetricsURL()
	if url == "" {
		t.Fatal("metrics are off")
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// value returns the value of family name with exactly labels, failing the
// test when there is no such series.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric family %s", name)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, want)
	return 0
}

func TestMetricsCountAKnownSequence(t *testing.T) {
	is := is.New(t)
	// Every presence change its own frame, so the frame counts below do
	// not depend on how changes fall into batches.
	unbatched := mega.Apps{"main": func(env *mega.Env) (*mega.App, error) {
		app := env.NewApp()
		app.Channel("/ws/chat", newChat(), mega.WithAuth(auth), mega.WithPresenceBatch(-1))
		return app, nil
	}}
	nodes := megatest.BootCluster(t, 2, unbatched, "")
	ns := []string{"app", "main", "namespace", "/ws/chat"}
	kind := func(k string) []string { return []string{"app", "main", "kind", k} }

	// Every family exists before anything happened, at zero.
	fams := scrape(t, nodes[0])
	for _, name := range []string{"mega_connections", "mega_messages_received_total", "mega_deliveries_total",
		"mega_broadcasts_total", "mega_slow_client_disconnects_total", "mega_roster_members"} {
		is.Equal(value(t, fams, name, ns...), 0.0) // name
	}
	for _, k := range []string{"broadcast", "direct"} {
		is.Equal(value(t, fams, "mega_cluster_published_total", kind(k)...), 0.0)
		is.Equal(value(t, fams, "mega_cluster_received_total", kind(k)...), 0.0)
	}
	is.Equal(value(t, fams, "mega_cluster_dropped_total", "app", "main"), 0.0)
	is.True(value(t, fams, "mega_writers") >= 0)        // the pool of writers, once per process
	is.True(value(t, fams, "mega_writes_waiting") >= 0) // (other tests may be sending)
	is.True(fams["go_goroutines"] != nil)               // the Go collector
	is.True(fams["process_cpu_seconds_total"] != nil)   // the process collector

	// ann and bob on instance 0, cid on instance 1, in that order.
	ann, _ := dial(t, nodes[0], "name=ann")
	bob, _ := dial(t, nodes[0], "name=bob")
	ann.ExpectPresence(t, "join")
	natstest.WaitFor(t, megatest.Timeout, "instance 1 to know ann and bob", func() bool {
		return len(nodes[1].App.List("/ws/chat")) == 2 // else cid would get their joins too
	})
	cid, _ := dial(t, nodes[1], "name=cid")
	ann.ExpectPresence(t, "join")
	bob.ExpectPresence(t, "join")
	ann.Push(t, "send", map[string]string{"text": "hi"})
	for _, c := range []*megatest.Client{ann, bob, cid} {
		c.Expect(t, "said")
	}
	natstest.WaitFor(t, megatest.Timeout, "3 members on instance 1", func() bool {
		return len(nodes[1].App.List("/ws/chat")) == 3
	})

	fams = scrape(t, nodes[0])
	is.Equal(value(t, fams, "mega_connections", ns...), 2.0)
	is.Equal(value(t, fams, "mega_messages_received_total", ns...), 1.0)
	// 2 welcomes, bob's join to ann, cid's join to ann and bob, 2 × said.
	is.Equal(value(t, fams, "mega_deliveries_total", ns...), 7.0)
	is.Equal(value(t, fams, "mega_broadcasts_total", ns...), 1.0)
	is.Equal(value(t, fams, "mega_roster_members", ns...), 3.0)
	is.Equal(value(t, fams, "mega_cluster_published_total", kind("broadcast")...), 1.0)
	is.Equal(value(t, fams, "mega_cluster_received_total", kind("broadcast")...), 0.0)
	is.Equal(value(t, fams, "mega_cluster_peers", "app", "main"), 1.0)

	fams = scrape(t, nodes[1])
	is.Equal(value(t, fams, "mega_connections", ns...), 1.0)
	is.Equal(value(t, fams, "mega_deliveries_total", ns...), 2.0) // welcome, said
	is.Equal(value(t, fams, "mega_broadcasts_total", ns...), 0.0)
	is.Equal(value(t, fams, "mega_roster_members", ns...), 3.0) // the join on another instance counts
	is.Equal(value(t, fams, "mega_cluster_received_total", kind("broadcast")...), 1.0)

	// A closed connection's counts stay in the totals.
	bob.Close()
	ann.ExpectPresence(t, "leave")
	natstest.WaitFor(t, megatest.Timeout, "bob's connection gone from the gauge", func() bool {
		return value(t, scrape(t, nodes[0]), "mega_connections", ns...) == 1
	})
	fams = scrape(t, nodes[0])
	is.Equal(value(t, fams, "mega_deliveries_total", ns...), 8.0) // + the leave to ann
	is.Equal(value(t, fams, "mega_roster_members", ns...), 2.0)
}

func TestMetricsCanMoveOrBeOff(t *testing.T) {
	is := is.New(t)
	off := megatest.BootCluster(t, 1, testApps, "metrics: { enabled: false }")[0]
	is.Equal(off.Instance.MetricsURL(), "")
	resp, err := http.Get(off.URL + "/metrics")
	is.NoErr(err)
	resp.Body.Close()
	is.Equal(resp.StatusCode, http.StatusNotFound)

	moved := megatest.BootCluster(t, 1, testApps, `metrics: { path: /internal/prom, addr: "127.0.0.1:0" }`)[0]
	is.True(!strings.HasPrefix(moved.Instance.MetricsURL(), moved.URL)) // its own listener
	is.True(strings.HasSuffix(moved.Instance.MetricsURL(), "/internal/prom"))
	is.True(scrape(t, moved)["mega_connections"] != nil)
	resp, err = http.Get(moved.URL + "/internal/prom")
	is.NoErr(err)
	resp.Body.Close()
	is.Equal(resp.StatusCode, http.StatusNotFound) // not on the app's listener
}
