package mega

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/megaframework/mega/framework/inspect"
)

// Every booted instance with a wsCluster bus answers inspect requests on
// "<subjectPrefix>.inspect" with an inspect.Reply (its apps, namespaces,
// connections and cluster counters); package inspect holds the documents
// and the client `mega inspect` runs.

// inspector answers the inspect requests of one booted instance.
type inspector struct {
	inst    *Instance
	started time.Time
	sub     *nats.Subscription
}

// inspectors holds the inspector of each booted instance that has one,
// from startInspect to stopInspect.
var inspectors sync.Map // *Instance -> *inspector

// startInspect makes the instance answer inspect requests on its
// wsCluster bus, if it has one. Boot calls it once the instance serves
// (the answer names its listen address); Shutdown calls stopInspect.
func (i *Instance) startInspect(ctx context.Context) error {
	wsc := i.cfg.WSCluster
	if wsc == nil || i.buses[wsc.Bus] == nil {
		return nil
	}
	b := i.buses[wsc.Bus]
	in := &inspector{inst: i, started: time.Now()}
	subject := inspect.Subject(wsc.SubjectPrefix)
	sub, err := b.Subscribe(subject, in.answer)
	if err != nil {
		return fmt.Errorf("mega: inspect: %w", err)
	}
	in.sub = sub
	inspectors.Store(i, in)
	// Let the server know before Boot returns, so an inspect right after
	// finds this instance.
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.Conn().FlushWithContext(fctx); err != nil {
		return fmt.Errorf("mega: inspect: subscribe %s: flush: %w", subject, err)
	}
	return nil
}

// stopInspect stops answering inspect requests. It is idempotent.
func (i *Instance) stopInspect() {
	if v, ok := inspectors.LoadAndDelete(i); ok {
		_ = v.(*inspector).sub.Unsubscribe()
	}
}

// answer replies to one inspect request. It runs on the subscription's
// goroutine.
func (in *inspector) answer(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	// The request body carries the requester's version; every version
	// gets this instance's document.
	b, err := json.Marshal(in.reply())
	if err != nil {
		in.inst.log.Warn().Err(err).Msg("inspect: cannot encode the reply")
		return
	}
	if err := m.Respond(b); err != nil {
		in.inst.log.Debug().Err(err).Msg("inspect: reply failed")
	}
}

// reply describes the instance now.
func (in *inspector) reply() inspect.Reply {
	i := in.inst
	r := inspect.Reply{
		Version:       inspect.Version,
		ID:            i.id,
		Listen:        i.URL(),
		Started:       in.started.UTC(),
		UptimeSeconds: time.Since(in.started).Seconds(),
		Peers:         []string{},
		Apps:          make([]inspect.App, 0, len(i.apps)),
	}
	wsc := i.cfg.WSCluster
	for _, a := range i.apps {
		ia := inspect.App{Name: a.app.Name(), Namespaces: []inspect.Namespace{}}
		for _, s := range a.app.snapshot() {
			ia.Namespaces = append(ia.Namespaces, inspect.Namespace{Namespace: s.m.ns, Connections: s.conns, Members: s.members})
			ia.Connections += s.conns
		}
		ia.Cluster = inspect.Cluster{Roster: wsc.Roster.Driver, TTLSeconds: wsc.Roster.TTL.Seconds(), Peers: []string{}}
		if a.cluster != nil {
			st := a.cluster.Stats()
			if p := a.cluster.Peers(); p != nil {
				ia.Cluster.Peers = p
			}
			ia.Cluster.Published = inspect.Kinds{Broadcast: st.BroadcastsPublished, Direct: st.DirectsPublished, Roster: st.RosterPublished}
			ia.Cluster.Received = inspect.Kinds{Broadcast: st.BroadcastsReceived, Direct: st.DirectsReceived, Roster: st.RosterReceived}
			ia.Cluster.Dropped = st.Dropped
			ia.Cluster.Malformed = st.Malformed
			ia.Cluster.PublishErrors = st.PublishErrors
			ia.Cluster.StateFetches = st.StateFetches
			ia.Cluster.Resyncs = st.Resyncs
			ia.Cluster.InstancesDropped = st.InstancesDropped
			ia.Cluster.InstancesLeft = st.InstancesLeft
		}
		r.Peers = append(r.Peers, ia.Cluster.Peers...)
		r.Connections += ia.Connections
		r.Apps = append(r.Apps, ia)
	}
	slices.SortFunc(r.Apps, func(a, b inspect.App) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(r.Peers)
	r.Peers = slices.Compact(r.Peers)
	return r
}
