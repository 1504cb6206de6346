package mega

import (
	"slices"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/megaframework/mega/framework/cluster"
	"github.com/megaframework/mega/framework/internal/transport"
)

// Metrics. The hot paths keep plain counters (a connection's under the lock
// it already holds, a namespace's as atomics); Prometheus reads them only
// when it scrapes, through constant metrics, so a delivery costs one
// increment and no label lookup. Every family is exported from the start,
// zero until something happens.

var (
	descConnections = prometheus.NewDesc("mega_connections",
		"WebSocket connections open on this instance.", []string{"app", "namespace"}, nil)
	descReceived = prometheus.NewDesc("mega_messages_received_total",
		"Frames received from clients (malformed ones included).", []string{"app", "namespace"}, nil)
	descDeliveries = prometheus.NewDesc("mega_deliveries_total",
		"Frames queued to clients: broadcasts, directs, replies and presence frames, one per recipient.", []string{"app", "namespace"}, nil)
	descBroadcasts = prometheus.NewDesc("mega_broadcasts_total",
		"Broadcasts sent from this instance (each reaches every instance once).", []string{"app", "namespace"}, nil)
	descSlow = prometheus.NewDesc("mega_slow_client_disconnects_total",
		"Clients closed with 4008 because their send queue was full.", []string{"app", "namespace"}, nil)
	descRoster = prometheus.NewDesc("mega_roster_members",
		"Members joined to the namespace's presence, cluster-wide when a cluster roster is wired.", []string{"app", "namespace"}, nil)
	descClusterPublished = prometheus.NewDesc("mega_cluster_published_total",
		"Messages this instance published to NATS, by kind (broadcast, direct, roster).", []string{"app", "kind"}, nil)
	descClusterReceived = prometheus.NewDesc("mega_cluster_received_total",
		"Messages from other instances delivered to this one, by kind (broadcast, direct, roster).", []string{"app", "kind"}, nil)
	descClusterDropped = prometheus.NewDesc("mega_cluster_dropped_total",
		"Messages NATS dropped because this instance's inbound queue was full (slow consumer).", []string{"app"}, nil)
	descClusterPeers = prometheus.NewDesc("mega_cluster_peers",
		"Other instances of the app this instance currently hears from.", []string{"app"}, nil)
	descWriters = prometheus.NewDesc("mega_writers",
		"Goroutines of the process's pool of writers (ADR 0012) running; zero while nothing is being sent.", nil, nil)
	descWritesWaiting = prometheus.NewDesc("mega_writes_waiting",
		"Connections with frames queued that wait for a writer of the pool; staying high means writes lag behind the traffic.", nil, nil)
)

// nsCounters are the counters of one namespace that no connection owns.
type nsCounters struct {
	broadcasts atomic.Uint64
	slow       atomic.Uint64
	// Counts of connections that have ended, folded in by App.untrack
	// under App.mu, so a scrape never counts a connection twice.
	received, delivered uint64
}

// nsSnapshot is one namespace's figures at a scrape.
type nsSnapshot struct {
	m                                  *mount
	conns                              int
	received, delivered, bcasts, slows uint64
	members                            int
}

// snapshot reads every mounted namespace's counters, sorted by namespace.
func (a *App) snapshot() []nsSnapshot {
	a.mountMu.RLock()
	out := make([]nsSnapshot, 0, len(a.mounts))
	for _, m := range a.mounts {
		out = append(out, nsSnapshot{m: m})
	}
	a.mountMu.RUnlock()
	slices.SortFunc(out, func(x, y nsSnapshot) int { return strings.Compare(x.m.ns, y.m.ns) })
	at := make(map[*mount]*nsSnapshot, len(out))
	for i := range out {
		at[out[i].m] = &out[i]
	}

	// Under a.mu a connection is either live (counted here) or folded
	// into its mount's totals by untrack, never both.
	a.mu.Lock()
	for _, s := range at {
		s.received, s.delivered = s.m.stats.received, s.m.stats.delivered
	}
	for c := range a.conns {
		s := at[c.mount] // every connection came through a mount
		s.conns++
		s.received += c.t.Received()
		s.delivered += c.t.Delivered()
	}
	a.mu.Unlock()

	for _, s := range at {
		s.bcasts, s.slows = s.m.stats.broadcasts.Load(), s.m.stats.slow.Load()
		s.members = a.hub.Count(s.m.ns)
	}
	return out
}

// collector exports the metrics of a booted process's apps and clusters.
type collector struct{ apps []*bootedApp }

// Describe implements prometheus.Collector.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnections, descReceived, descDeliveries, descBroadcasts, descSlow,
		descRoster, descClusterPublished, descClusterReceived, descClusterDropped, descClusterPeers,
		descWriters, descWritesWaiting} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	for _, b := range c.apps {
		name := b.app.Name()
		for _, s := range b.app.snapshot() {
			ns := s.m.ns
			gauge(descConnections, s.conns, name, ns)
			counter(descReceived, s.received, name, ns)
			counter(descDeliveries, s.delivered, name, ns)
			counter(descBroadcasts, s.bcasts, name, ns)
			counter(descSlow, s.slows, name, ns)
			gauge(descRoster, s.members, name, ns)
		}
		var st cluster.Stats // zeros without a cluster
		if b.cluster != nil {
			st = b.cluster.Stats()
		}
		counter(descClusterPublished, st.BroadcastsPublished, name, "broadcast")
		counter(descClusterPublished, st.DirectsPublished, name, "direct")
		counter(descClusterPublished, st.RosterPublished, name, "roster")
		counter(descClusterReceived, st.BroadcastsReceived, name, "broadcast")
		counter(descClusterReceived, st.DirectsReceived, name, "direct")
		counter(descClusterReceived, st.RosterReceived, name, "roster")
		counter(descClusterDropped, st.Dropped, name)
		gauge(descClusterPeers, st.Peers, name)
	}
	running, waiting := transport.Writers() // the process's, shared by its apps
	gauge(descWriters, running)
	gauge(descWritesWaiting, waiting)
}

// newRegistry returns a registry with the Go and process collectors and the
// apps' metrics.
func newRegistry(apps []*bootedApp) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		prometheus.NewGoCollector(),
		prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
		collector{apps: apps},
	)
	return reg
}
