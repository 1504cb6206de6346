// Package inspect asks the running instances of a mega deployment for their
// state over NATS, as `mega inspect` does.
//
// Every booted instance with a wsCluster bus answers requests on
// "<subjectPrefix>.inspect" with a Reply (its apps, namespaces, connections
// and cluster counters). Query publishes one request, gathers the replies
// and lists the instances some peer knows about but that did not answer as
// missing. The documents are versioned JSON (Version); see docs/cli.md.
package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/megaframework/mega/framework/cluster"
	"github.com/megaframework/mega/framework/config"
)

// Version is the version of the inspect documents this framework
// writes (Request, Reply, Result). Fields may be added
// without changing it; it changes when a field changes meaning or goes away.
const Version = 1

// DefaultTimeout is how long Query waits for answers by default.
const DefaultTimeout = time.Second

// defaultQuiet is how long Query keeps listening once every
// instance it knows of answered, for instances nobody lists as a peer
// (instances that share no app do not hear from each other).
const defaultQuiet = 50 * time.Millisecond

// subjectToken is the last token of the inspect subject. An app named
// "inspect" does not collide: app subjects always have more tokens.
const subjectToken = "inspect"

// ErrNoInstances is wrapped by Query's error when no instance answered.
var ErrNoInstances = errors.New("no instance answered")

// Subject returns the subject the instances of a deployment whose
// wsCluster.subjectPrefix is prefix answer inspect requests on:
// "<prefix>.inspect".
func Subject(prefix string) string { return prefix + "." + subjectToken }

// Request is the body of an inspect request.
type Request struct {
	// Version is the document version the requester understands; an
	// instance answers with its own Version whatever it is.
	Version int `json:"version"`
}

// Reply is one instance's answer to an inspect request.
type Reply struct {
	// Version is the Version of the instance that answered.
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
	Apps []App `json:"apps"`
}

// App is one app of an instance.
type App struct {
	// Name is the app's name (a key of apps in mega.yaml).
	Name string `json:"name"`
	// Connections is the number of WebSocket connections open on this app
	// on this instance.
	Connections int `json:"connections"`
	// Namespaces are the app's channel namespaces (WebSocket paths),
	// sorted.
	Namespaces []Namespace `json:"namespaces"`
	// Cluster is the app's cluster as this instance sees it.
	Cluster Cluster `json:"cluster"`
}

// Namespace is one namespace of an app on one instance.
type Namespace struct {
	// Namespace is the namespace, the WebSocket path such as "/ws/chat".
	Namespace string `json:"namespace"`
	// Connections is the number of connections open on it on this instance.
	Connections int `json:"connections"`
	// Members is the number of presence members in it as this instance
	// sees them: cluster-wide with the "nats" roster, local with "none".
	Members int `json:"members"`
}

// Cluster is the state and counters of one app's cluster on one
// instance (cluster.Stats).
type Cluster struct {
	// Roster is the roster driver: "nats" (shared) or "none" (local).
	Roster string `json:"roster"`
	// TTLSeconds is the roster TTL: a silent peer is dropped after it.
	TTLSeconds float64 `json:"ttlSeconds"`
	// Peers are the ids of the other instances of this app the cluster
	// currently hears from, sorted (always empty with the "none" roster).
	Peers []string `json:"peers"`
	// Published counts the messages this instance published, by kind.
	Published Kinds `json:"published"`
	// Received counts the messages from other instances it handled, by kind.
	Received Kinds `json:"received"`
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

// Kinds counts cluster messages by kind.
type Kinds struct {
	// Broadcast counts broadcasts to a namespace.
	Broadcast uint64 `json:"broadcast"`
	// Direct counts directs to a user.
	Direct uint64 `json:"direct"`
	// Roster counts roster messages: deltas, heartbeats, state chunks,
	// requests and byes.
	Roster uint64 `json:"roster"`
}

// Result is what Query gathered: the instances that answered, the
// ones that did not, and every namespace's totals.
type Result struct {
	// Version is the Version of this document.
	Version int `json:"version"`
	// Server is the NATS server the request went through (password
	// redacted).
	Server string `json:"server"`
	// Prefix is the wsCluster.subjectPrefix asked.
	Prefix string `json:"prefix"`
	// Subject is the subject the request was published on.
	Subject string `json:"subject"`
	// TimeoutSeconds is how long Query was willing to wait for answers.
	TimeoutSeconds float64 `json:"timeoutSeconds"`
	// Instances are the answers, sorted by instance id.
	Instances []Reply `json:"instances"`
	// Missing are the instances some answering instance lists as a peer
	// that did not answer within the timeout, sorted by id.
	Missing []Missing `json:"missing"`
	// Namespaces are the totals of every namespace of every app over the
	// instances that answered, sorted by app, then namespace.
	Namespaces []NamespaceTotal `json:"namespaces"`
	// Invalid describes the replies that could not be read (not JSON, no
	// id); they are otherwise ignored.
	Invalid []string `json:"invalid,omitempty"`
}

// Missing is an instance that did not answer.
type Missing struct {
	// ID is the instance id.
	ID string `json:"id"`
	// ListedBy are the ids of the instances that list it as a peer, sorted.
	ListedBy []string `json:"listedBy"`
	// Reason says why it is listed, e.g. "no answer within 1s".
	Reason string `json:"reason"`
}

// NamespaceTotal is one namespace of one app over the instances
// that answered.
type NamespaceTotal struct {
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

// Options configure Query. Zero values mean the defaults.
type Options struct {
	// Prefix is the instances' wsCluster.subjectPrefix (default "mega.ws").
	Prefix string
	// Timeout bounds the wait for answers (default 1s). Query returns
	// earlier once every instance it knows of has answered.
	Timeout time.Duration
	// Quiet is how long Query keeps listening after every known instance
	// answered, for instances no answer lists as a peer (default 50ms).
	Quiet time.Duration
}

// Query asks every instance using opts.Prefix on nc's NATS for its
// state and gathers the answers. It waits at most opts.Timeout (less when
// every instance it learned of answered): each answer lists the instance's
// peers, and a peer that has not answered by then is reported as missing
// instead of waited for. It returns an error wrapping ErrNoInstances when
// nobody answered, and an error when ctx ends first.
func Query(ctx context.Context, nc *nats.Conn, opts Options) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	if opts.Prefix == "" {
		opts.Prefix = cluster.DefaultSubjectPrefix
	}
	if !config.ValidSubjectPrefix(opts.Prefix) {
		return nil, fmt.Errorf("inspect: prefix %q: must be valid NATS subject tokens joined by dots (no spaces, * or >)", opts.Prefix)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Quiet <= 0 {
		opts.Quiet = defaultQuiet
	}
	subject := Subject(opts.Prefix)
	inbox := nc.NewRespInbox()
	// One message per instance; the loop below drains it continuously.
	ch := make(chan *nats.Msg, 4096)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, fmt.Errorf("inspect: subscribe to replies: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	body, err := json.Marshal(Request{Version: Version})
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	if err := nc.PublishRequest(subject, inbox, body); err != nil {
		return nil, fmt.Errorf("inspect: publish on %s: %w", subject, err)
	}

	deadline := time.NewTimer(opts.Timeout)
	defer deadline.Stop()
	quiet := time.NewTimer(opts.Quiet)
	quiet.Stop()
	defer quiet.Stop()
	replies := make(map[string]Reply)
	var invalid []string
	noResponders := false
gather:
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("inspect: %w", ctx.Err())
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
			var r Reply
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
		return nil, fmt.Errorf("inspect: %w on %s %s: no instance uses the subject prefix %q on this NATS",
			ErrNoInstances, subject, why, opts.Prefix)
	}
	return collate(replies, invalid, nc.ConnectedUrlRedacted(), opts, subject), nil
}

// everyPeerAnswered reports whether every peer listed by a reply answered.
func everyPeerAnswered(replies map[string]Reply) bool {
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
func collate(replies map[string]Reply, invalid []string, server string, opts Options, subject string) *Result {
	res := &Result{
		Version:        Version,
		Server:         server,
		Prefix:         opts.Prefix,
		Subject:        subject,
		TimeoutSeconds: opts.Timeout.Seconds(),
		Instances:      make([]Reply, 0, len(replies)),
		Missing:        []Missing{},
		Namespaces:     []NamespaceTotal{},
		Invalid:        invalid,
	}
	listedBy := make(map[string][]string)
	type key struct{ app, ns string }
	totals := make(map[key]*NamespaceTotal)
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
					t = &NamespaceTotal{App: a.Name, Namespace: n.Namespace, Members: n.Members, MembersMin: n.Members}
					totals[k] = t
				}
				t.Members = max(t.Members, n.Members)
				t.MembersMin = min(t.MembersMin, n.Members)
				t.Connections += n.Connections
				t.Instances++
			}
		}
	}
	slices.SortFunc(res.Instances, func(a, b Reply) int { return strings.Compare(a.ID, b.ID) })
	for id, by := range listedBy {
		slices.Sort(by)
		res.Missing = append(res.Missing, Missing{ID: id, ListedBy: by, Reason: fmt.Sprintf("no answer within %s", opts.Timeout)})
	}
	slices.SortFunc(res.Missing, func(a, b Missing) int { return strings.Compare(a.ID, b.ID) })
	for _, t := range totals {
		res.Namespaces = append(res.Namespaces, *t)
	}
	slices.SortFunc(res.Namespaces, func(a, b NamespaceTotal) int {
		if c := strings.Compare(a.App, b.App); c != 0 {
			return c
		}
		return strings.Compare(a.Namespace, b.Namespace)
	})
	return res
}
