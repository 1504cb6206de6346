package mega

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/nats-io/nats.go"

	"github.com/megaframework/mega/framework/cluster"
)

// Inspect: every booted instance with a wsCluster bus answers requests on
// "<subjectPrefix>.inspect" with an InspectReply (its apps, namespaces,
// connections and cluster counters). Inspect, which `mega inspect` runs,
// publishes one request, gathers the replies and lists the instances some
// peer knows about but that did not answer as missing. See docs/cli.md.

// InspectVersion is the version of the inspect documents this framework
// writes (InspectRequest, InspectReply, InspectResult). Fields may be added
// without changing it; it changes when a field changes meaning or goes away.
const InspectVersion = 1

// DefaultInspectTimeout is how long Inspect waits for answers by default.
const DefaultInspectTimeout = time.Second

// defaultInspectQuiet is how long Inspect keeps listening once every
// instance it knows of answered, for instances nobody lists as a peer
// (instances that share no app do not hear from each other).
const defaultInspectQuiet = 50 * time.Millisecond

// inspectToken is the last token of the inspect subject. An app named
// "inspect" does not collide: app subjects always have more tokens.
const inspectToken = "inspect"

// ErrNoInstances is wrapped by Inspect's error when no instance answered.
var ErrNoInstances = errors.New("no instance answered")

// InspectSubject returns the subject the instances of a deployment whose
// wsCluster.subjectPrefix is prefix answer inspect requests on:
// "<prefix>.inspect".
func InspectSubject(prefix string) string { return prefix + "." + inspectToken }

// InspectRequest is the body of an inspect request.
type InspectRequest struct {
	// Version is the document version the requester understands; an
	// instance answers with its own InspectVersion whatever it is.
	Version int `json:"version"`
}

// InspectReply is one instance's answer to an inspect request.
type InspectReply struct {
	// Version is the InspectVersion of the instance that answered.
	Version int `json:"version"`
	// ID is the instance id, random per boot and shared by its clusters.
	ID string `json:"id"`
	// Listen is the base URL of the instance's HTTP server, as it reports
	// it (e.g. http://127.0.0.1:8080, or http://localhost:8080 when it
	// listens on every interface).
	Listen string `json:"listen"`
	// Started is when the instance started serving, by its own clock (UTC).
	Started time.Time `json:"started"`
	// UptimeSeconds is how long it has been serving, by its own clock, so
	// clock skew between hosts does not matter.
	UptimeSeconds float64 `json:"uptimeSeconds"`
	// Connections is the number of WebSocket connections open on this
	// instance, all apps and namespaces together.
	Connections int `json:"connections"`
	// Peers are the ids of the other instances its clusters currently hear
	// from, all apps together, sorted. An id listed here that did not
	// answer is reported as missing.
	Peers []string `json:"peers"`
	// Apps are the apps this instance serves, sorted by name.
	Apps []InspectApp `json:"apps"`
}

// InspectApp is one app of an instance.
type InspectApp struct {
	// Name is the app's name (a key of apps in mega.yaml).
	Name string `json:"name"`
	// Connections is the number of WebSocket connections open on this app
	// on this instance.
	Connections int `json:"connections"`
	// Namespaces are the app's channel namespaces (WebSocket paths),
	// sorted.
	Namespaces []InspectNamespace `json:"namespaces"`
	// Cluster is the app's cluster as this instance sees it.
	Cluster InspectCluster `json:"cluster"`
}

// InspectNamespace is one namespace of an app on one instance.
type InspectNamespace struct {
	// Namespace is the namespace, the WebSocket path such as "/ws/chat".
	Namespace string `json:"namespace"`
	// Connections is the number of connections open on it on this instance.
	Connections int `json:"connections"`
	// Members is the number of presence members in it as this instance
	// sees them: cluster-wide with the "nats" roster, local with "none".
	Members int `json:"members"`
}

// InspectCluster is the state and counters of one app's cluster on one
// instance (cluster.Stats).
type InspectCluster struct {
	// Roster is the roster driver: "nats" (shared) or "none" (local).
	Roster string `json:"roster"`
	// TTLSeconds is the roster TTL: a silent peer is dropped after it.
	TTLSeconds float64 `json:"ttlSeconds"`
	// Peers are the ids of the other instances of this app the cluster
	// currently hears from, sorted (always empty with the "none" roster).
	Peers []string `json:"peers"`
	// Published counts the messages this instance published, by kind.
	Published InspectKinds `json:"published"`
	// Received counts the messages from other instances it handled, by kind.
	Received InspectKinds `json:"received"`
	// Dropped counts inbound messages NATS dropped because a queue was full
	// (slow consumer).
	Dropped uint64 `json:"dropped"`
	// Malformed counts inbound messages rejected as malformed.
	Malformed uint64 `json:"malformed"`
	// PublishErrors counts publishes NATS refused.
	PublishErrors uint64 `json:"publishErrors"`
	// StateFetches counts full roster states requested from a peer.
	StateFetches uint64 `json:"stateFetches"`
	// Resyncs counts resyncs (after a NATS reconnect or on request).
	Resyncs uint64 `json:"resyncs"`
	// InstancesDropped counts peers dropped because they were silent for TTL.
	InstancesDropped uint64 `json:"instancesDropped"`
	// InstancesLeft counts peers that stopped gracefully (said bye).
	InstancesLeft uint64 `json:"instancesLeft"`
}

// InspectKinds counts cluster messages by kind.
type InspectKinds struct {
	// Broadcast counts broadcasts to a namespace.
	Broadcast uint64 `json:"broadcast"`
	// Direct counts directs to a user.
	Direct uint64 `json:"direct"`
	// Roster counts roster messages: deltas, heartbeats, state chunks,
	// requests and byes.
	Roster uint64 `json:"roster"`
}

// InspectResult is what Inspect gathered: the instances that answered, the
// ones that did not, and every namespace's totals.
type InspectResult struct {
	// Version is the InspectVersion of this document.
	Version int `json:"version"`
	// Server is the NATS server the request went through (password
	// redacted).
	Server string `json:"server"`
	// Prefix is the wsCluster.subjectPrefix asked.
	Prefix string `json:"prefix"`
	// Subject is the subject the request was published on.
	Subject string `json:"subject"`
	// TimeoutSeconds is how long Inspect was willing to wait for answers.
	TimeoutSeconds float64 `json:"timeoutSeconds"`
	// Instances are the answers, sorted by instance id.
	Instances []InspectReply `json:"instances"`
	// Missing are the instances some answering instance lists as a peer
	// that did not answer within the timeout, sorted by id.
	Missing []InspectMissing `json:"missing"`
	// Namespaces are the totals of every namespace of every app over the
	// instances that answered, sorted by app, then namespace.
	Namespaces []InspectNamespaceTotal `json:"namespaces"`
	// Invalid describes the replies that could not be read (not JSON, no
	// id); they are otherwise ignored.
	Invalid []string `json:"invalid,omitempty"`
}

// InspectMissing is an instance that did not answer.
type InspectMissing struct {
	// ID is the instance id.
	ID string `json:"id"`
	// ListedBy are the ids of the instances that list it as a peer, sorted.
	ListedBy []string `json:"listedBy"`
	// Reason says why it is listed, e.g. "no answer within 1s".
	Reason string `json:"reason"`
}

// InspectNamespaceTotal is one namespace of one app over the instances
// that answered.
type InspectNamespaceTotal struct {
	// App is the app's name.
	App string `json:"app"`
	// Namespace is the namespace, such as "/ws/chat".
	Namespace string `json:"namespace"`
	// Members is the cluster-wide member count: the largest count an
	// instance reported. The views agree once the roster has converged;
	// members of a missing instance count until its peers drop it (TTL).
	Members int `json:"members"`
	// MembersMin is the smallest count an instance reported; it differs
	// from Members only while the views disagree.
	MembersMin int `json:"membersMin"`
	// Connections is the sum of the instances' local connections on it.
	Connections int `json:"connections"`
	// Instances is the number of answering instances that serve the app.
	Instances int `json:"instances"`
}

// InspectOptions configure Inspect. Zero values mean the defaults.
type InspectOptions struct {
	// Prefix is the instances' wsCluster.subjectPrefix (default "mega.ws").
	Prefix string
	// Timeout bounds the wait for answers (default 1s). Inspect returns
	// earlier once every instance it knows of has answered.
	Timeout time.Duration
	// Quiet is how long Inspect keeps listening after every known instance
	// answered, for instances no answer lists as a peer (default 50ms).
	Quiet time.Duration
}

// Inspect asks every instance using opts.Prefix on nc's NATS for its
// state and gathers the answers. It waits at most opts.Timeout (less when
// every instance it learned of answered): each answer lists the instance's
// peers, and a peer that has not answered by then is reported as missing
// instead of waited for. It returns an error wrapping ErrNoInstances when
// nobody answered, and an error when ctx ends first.
func Inspect(ctx context.Context, nc *nats.Conn, opts InspectOptions) (*InspectResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mega: inspect: %w", err)
	}
	if opts.Prefix == "" {
		opts.Prefix = cluster.DefaultSubjectPrefix
	}
	if !ValidSubjectPrefix(opts.Prefix) {
		return nil, fmt.Errorf("mega: inspect: prefix %q: must be valid NATS subject tokens joined by dots (no spaces, * or >)", opts.Prefix)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultInspectTimeout
	}
	if opts.Quiet <= 0 {
		opts.Quiet = defaultInspectQuiet
	}
	subject := InspectSubject(opts.Prefix)
	inbox := nc.NewRespInbox()
	// One message per instance; the loop below drains it continuously.
	ch := make(chan *nats.Msg, 4096)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, fmt.Errorf("mega: inspect: subscribe to replies: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	body, err := json.Marshal(InspectRequest{Version: InspectVersion})
	if err != nil {
		return nil, fmt.Errorf("mega: inspect: %w", err)
	}
	if err := nc.PublishRequest(subject, inbox, body); err != nil {
		return nil, fmt.Errorf("mega: inspect: publish on %s: %w", subject, err)
	}

	deadline := time.NewTimer(opts.Timeout)
	defer deadline.Stop()
	quiet := time.NewTimer(opts.Quiet)
	quiet.Stop()
	defer quiet.Stop()
	replies := make(map[string]InspectReply)
	var invalid []string
	noResponders := false
gather:
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("mega: inspect: %w", ctx.Err())
		case <-deadline.C:
			break gather
		case <-quiet.C:
			break gather
		case m := <-ch:
			if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
				// The server says nobody is subscribed to the subject.
				noResponders = true
				break gather
			}
			var r InspectReply
			if err := json.Unmarshal(m.Data, &r); err != nil || r.ID == "" {
				if err == nil {
					err = errors.New("no instance id")
				}
				invalid = append(invalid, fmt.Sprintf("unreadable reply (%d bytes): %v", len(m.Data), err))
				continue
			}
			if _, dup := replies[r.ID]; !dup {
				replies[r.ID] = r
			}
			quiet.Stop()
			if everyPeerAnswered(replies) {
				quiet.Reset(opts.Quiet)
			}
		}
	}

	if len(replies) == 0 {
		why := fmt.Sprintf("within %s", opts.Timeout)
		if noResponders {
			why = "(NATS reports no subscriber)"
		}
		return nil, fmt.Errorf("mega: inspect: %w on %s %s: no instance uses the subject prefix %q on this NATS",
			ErrNoInstances, subject, why, opts.Prefix)
	}
	return collate(replies, invalid, nc.ConnectedUrlRedacted(), opts, subject), nil
}

// everyPeerAnswered reports whether every peer listed by a reply answered.
func everyPeerAnswered(replies map[string]InspectReply) bool {
	for _, r := range replies {
		for _, p := range r.Peers {
			if _, ok := replies[p]; !ok {
				return false
			}
		}
	}
	return true
}

// collate builds the result from the replies: sorted instances, the peers
// that did not answer, and the namespace totals.
func collate(replies map[string]InspectReply, invalid []string, server string, opts InspectOptions, subject string) *InspectResult {
	res := &InspectResult{
		Version:        InspectVersion,
		Server:         server,
		Prefix:         opts.Prefix,
		Subject:        subject,
		TimeoutSeconds: opts.Timeout.Seconds(),
		Instances:      make([]InspectReply, 0, len(replies)),
		Missing:        []InspectMissing{},
		Namespaces:     []InspectNamespaceTotal{},
		Invalid:        invalid,
	}
	listedBy := make(map[string][]string)
	type key struct{ app, ns string }
	totals := make(map[key]*InspectNamespaceTotal)
	for _, r := range replies {
		res.Instances = append(res.Instances, r)
		for _, p := range r.Peers {
			if _, ok := replies[p]; !ok {
				listedBy[p] = append(listedBy[p], r.ID)
			}
		}
		for _, a := range r.Apps {
			for _, n := range a.Namespaces {
				k := key{a.Name, n.Namespace}
				t := totals[k]
				if t == nil {
					t = &InspectNamespaceTotal{App: a.Name, Namespace: n.Namespace, Members: n.Members, MembersMin: n.Members}
					totals[k] = t
				}
				t.Members = max(t.Members, n.Members)
				t.MembersMin = min(t.MembersMin, n.Members)
				t.Connections += n.Connections
				t.Instances++
			}
		}
	}
	slices.SortFunc(res.Instances, func(a, b InspectReply) int { return strings.Compare(a.ID, b.ID) })
	for id, by := range listedBy {
		slices.Sort(by)
		res.Missing = append(res.Missing, InspectMissing{ID: id, ListedBy: by, Reason: fmt.Sprintf("no answer within %s", opts.Timeout)})
	}
	slices.SortFunc(res.Missing, func(a, b InspectMissing) int { return strings.Compare(a.ID, b.ID) })
	for _, t := range totals {
		res.Namespaces = append(res.Namespaces, *t)
	}
	slices.SortFunc(res.Namespaces, func(a, b InspectNamespaceTotal) int {
		if c := strings.Compare(a.App, b.App); c != 0 {
			return c
		}
		return strings.Compare(a.Namespace, b.Namespace)
	})
	return res
}

// ValidSubjectPrefix reports whether p is a valid wsCluster.subjectPrefix:
// one or more NATS subject tokens joined by dots, without wildcards,
// whitespace or control characters.
func ValidSubjectPrefix(p string) bool {
	if p == "" {
		return false
	}
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" || strings.ContainsAny(tok, "*>") || strings.ContainsFunc(tok, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r)
		}) {
			return false
		}
	}
	return true
}

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
	subject := InspectSubject(wsc.SubjectPrefix)
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
func (in *inspector) reply() InspectReply {
	i := in.inst
	r := InspectReply{
		Version:       InspectVersion,
		ID:            i.id,
		Listen:        i.URL(),
		Started:       in.started.UTC(),
		UptimeSeconds: time.Since(in.started).Seconds(),
		Peers:         []string{},
		Apps:          make([]InspectApp, 0, len(i.apps)),
	}
	wsc := i.cfg.WSCluster
	for _, a := range i.apps {
		ia := InspectApp{Name: a.app.Name(), Namespaces: []InspectNamespace{}}
		for _, s := range a.app.snapshot() {
			ia.Namespaces = append(ia.Namespaces, InspectNamespace{Namespace: s.m.ns, Connections: s.conns, Members: s.members})
			ia.Connections += s.conns
		}
		ia.Cluster = InspectCluster{Roster: wsc.Roster.Driver, TTLSeconds: wsc.Roster.TTL.Seconds(), Peers: []string{}}
		if a.cluster != nil {
			st := a.cluster.Stats()
			if p := a.cluster.Peers(); p != nil {
				ia.Cluster.Peers = p
			}
			ia.Cluster.Published = InspectKinds{Broadcast: st.BroadcastsPublished, Direct: st.DirectsPublished, Roster: st.RosterPublished}
			ia.Cluster.Received = InspectKinds{Broadcast: st.BroadcastsReceived, Direct: st.DirectsReceived, Roster: st.RosterReceived}
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
	slices.SortFunc(r.Apps, func(a, b InspectApp) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(r.Peers)
	r.Peers = slices.Compact(r.Peers)
	return r
}
