// Package history keeps the broadcasts of a namespace's sub-channels in NATS
// JetStream, so that a client can read the recent messages of a sub-channel
// and recover exactly what it missed while it was away.
//
// One stream per namespace holds every sub-channel on its own subject,
// "<prefix>.<app>.h.<nsToken>.<channelToken>". A message's offset is its
// stream sequence: it grows with every message of the sub-channel and is
// the same on every instance. The epoch is the stream's creation time: it
// changes only when the stream was lost and created again.
//
// Publishers chain the messages of a sub-channel: each carries the offset of
// the sub-channel's previous message (header Mega-Prev), and JetStream
// refuses a message whose predecessor is not the sub-channel's last one
// (Nats-Expected-Last-Subject-Sequence), so the chain has no holes even
// with many instances publishing at once. A reader that finds the first
// message after a position linked to that position knows nothing was lost
// in between; see ADR 0008.
package history

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Config bounds what one namespace keeps.
type Config struct {
	// Size is how many messages each sub-channel keeps.
	Size int
	// TTL is how long a message is kept.
	TTL time.Duration
	// MaxBytes bounds the bytes of the whole namespace (0: no bound).
	MaxBytes int64
	// Replicas is how many JetStream servers hold the stream (default 1).
	Replicas int
}

// Errors callers branch on.
var (
	// ErrNoJetStream means the NATS server (or the account) has JetStream off.
	ErrNoJetStream = errors.New("history: JetStream is not enabled on the NATS server")
	// ErrOldServer means the NATS server is older than history needs.
	ErrOldServer = errors.New("history: the NATS server is too old")
	// ErrConflict means a publish lost the race for a sub-channel's next
	// offset too many times in a row.
	ErrConflict = errors.New("history: too many concurrent publishes to one sub-channel")
)

// Headers of stored messages.
const (
	headerPrev   = "Mega-Prev"
	headerExcept = "Mega-Except"
)

// Store opens the namespaces of one app.
type Store struct {
	js     jetstream.JetStream
	prefix string
	app    string
	base   string // "<prefix>.<app>.h"
}

// Open checks that JetStream answers on nc and returns the store of app's
// history under subject prefix prefix. It fails with an error matching
// ErrNoJetStream when the server runs without JetStream.
func Open(ctx context.Context, nc *nats.Conn, prefix, app string) (*Store, error) {
	if v := nc.ConnectedServerVersion(); v != "" && !atLeast(v, 2, 11) {
		return nil, fmt.Errorf("%w: nats-server %s; history reads batches of messages, which needs 2.11 or later", ErrOldServer, v)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return nil, fmt.Errorf("%w (%v)", ErrNoJetStream, err)
		}
		return nil, fmt.Errorf("history: ask JetStream for the account's limits: %w", err)
	}
	return &Store{js: js, prefix: prefix, app: app, base: prefix + "." + app + ".h"}, nil
}

// atLeast reports whether version "X.Y.Z[-...]" is at least major.minor.
func atLeast(version string, major, minor int) bool {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return true // not a version we can read: let the server answer
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.TrimLeftFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > major || ma == major && mi >= minor
}

// Log is the history of one namespace.
type Log struct {
	js      jetstream.JetStream
	ns      string
	stream  string
	prefix  string // "<base>.<nsToken>."
	size    int
	mu      sync.Mutex
	epoch   string
	lastPub map[string]uint64 // sub-channel subject → its last offset, as far as this instance knows
}

// StreamName returns the JetStream stream that holds namespace ns of app
// under subject prefix prefix: readable where it can be, unique always.
func StreamName(prefix, app, ns string) string {
	sum := sha256.Sum256([]byte(prefix + "\x00" + app + "\x00" + ns))
	var b strings.Builder
	b.WriteString("mega_")
	b.WriteString(app)
	b.WriteByte('_')
	n := 0
	for _, r := range ns {
		if n >= 32 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		n++
	}
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(sum[:4]))
	return b.String()
}

// token encodes a namespace or a sub-channel as one subject token, as the
// cluster does: base64url without padding, "_" for the empty string.
func token(s string) string {
	if s == "" {
		return "_"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func untoken(t string) (string, bool) {
	if t == "_" {
		return "", true
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	return string(b), err == nil
}

// Namespace creates or updates the stream of namespace ns with cfg and
// returns its log.
func (s *Store) Namespace(ctx context.Context, ns string, cfg Config) (*Log, error) {
	if cfg.Size < 1 || cfg.TTL <= 0 {
		return nil, fmt.Errorf("history: namespace %q: size and ttl must be positive", ns)
	}
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	prefix := s.base + "." + token(ns) + "."
	name := StreamName(s.prefix, s.app, ns)
	sc := jetstream.StreamConfig{
		Name:              name,
		Description:       "mega history of app " + s.app + ", namespace " + ns,
		Subjects:          []string{prefix + "*"},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: int64(Kept(cfg.Size)),
		MaxAge:            cfg.TTL,
		MaxBytes:          -1,
		Replicas:          cfg.Replicas,
		AllowDirect:       true,
		Metadata:          map[string]string{"mega.app": s.app, "mega.namespace": ns},
	}
	if cfg.MaxBytes > 0 {
		sc.MaxBytes = cfg.MaxBytes
	}
	st, err := s.js.CreateOrUpdateStream(ctx, sc)
	// A stream created right after it was deleted can fail while the server
	// still removes the old files ("error creating store"): try again
	// shortly, within ctx.
	for delay := 50 * time.Millisecond; isCreateErr(err) && ctx.Err() == nil; delay = min(2*delay, time.Second) {
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		st, err = s.js.CreateOrUpdateStream(ctx, sc)
	}
	if err != nil {
		return nil, fmt.Errorf("history: stream %s for namespace %q: %w", name, ns, err)
	}
	info := st.CachedInfo()
	return &Log{
		js: s.js, ns: ns, stream: name, prefix: prefix, size: Kept(cfg.Size),
		epoch:   epochOf(info.Created),
		lastPub: make(map[string]uint64),
	}, nil
}

// jsStreamCreateErr is JetStream's "error creating stream" (JSStreamCreateErrF).
const jsStreamCreateErr jetstream.ErrorCode = 10049

func isCreateErr(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsStreamCreateErr
}

// Kept is how many messages per sub-channel the stream keeps for a history
// of size: size, plus as many again (at least 64). Reads serve the last
// size; the margin is there because every instance delivers live messages
// from the stream: a burst that pushed a message out before a lagging
// instance's consumer read it would take it from that instance's clients.
func Kept(size int) int { return size + max(size, 64) }

// epochOf names a stream's life: its creation time, base 36.
func epochOf(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 36) }

// Epoch returns the epoch of the namespace's history.
func (l *Log) Epoch() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch
}

// Stream returns the JetStream stream's name.
func (l *Log) Stream() string { return l.stream }

// Entry is one stored message of a sub-channel.
type Entry struct {
	// Channel is the sub-channel.
	Channel string
	// Offset is the message's position; Prev the position of the
	// sub-channel's message before it (0: none).
	Offset, Prev uint64
	// Data is the stored frame, {"type","payload"}.
	Data []byte
	// Except lists the sessions that must not get the message.
	Except []string
}

// maxPublishTries bounds the retries of a publish that lost the race for
// its sub-channel's next offset to another publisher.
const maxPublishTries = 16

// Publish stores data as the next message of sub-channel channel and
// returns its offset. except is stored with it for the live delivery.
func (l *Log) Publish(ctx context.Context, channel string, data []byte, except []string) (uint64, error) {
	subj := l.prefix + token(channel)
	l.mu.Lock()
	prev, known := l.lastPub[subj]
	l.mu.Unlock()
	if !known {
		last, err := l.lastOffset(ctx, subj)
		if err != nil {
			return 0, err
		}
		prev = last
	}
	for range maxPublishTries {
		m := nats.NewMsg(subj)
		m.Data = data
		m.Header.Set(headerPrev, strconv.FormatUint(prev, 10))
		for _, id := range except {
			m.Header.Add(headerExcept, id)
		}
		ack, err := l.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(prev))
		if err == nil {
			l.noteLast(subj, ack.Sequence)
			return ack.Sequence, nil
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || (apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence &&
			apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return 0, fmt.Errorf("history: publish to %s: %w", l.stream, err)
		}
		// Another publisher was first: the server says where the
		// sub-channel is now ("wrong last sequence: N").
		if n, ok := lastSeqFrom(apiErr.Description); ok {
			prev = n
		} else if prev, err = l.lastOffset(ctx, subj); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("%w: %q after %d tries", ErrConflict, channel, maxPublishTries)
}

// lastSeqFrom reads N from "wrong last sequence: N".
func lastSeqFrom(desc string) (uint64, bool) {
	i := strings.LastIndexByte(desc, ':')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(desc[i+1:]), 10, 64)
	return n, err == nil
}

// maxKnownChannels bounds lastPub; past it the map starts over (a miss
// costs one direct get).
const maxKnownChannels = 4096

// noteLast records the last offset of a sub-channel's subject.
func (l *Log) noteLast(subj string, seq uint64) {
	l.mu.Lock()
	if l.lastPub[subj] < seq {
		if len(l.lastPub) >= maxKnownChannels {
			clear(l.lastPub)
		}
		l.lastPub[subj] = seq
	}
	l.mu.Unlock()
}

// lastOffset asks the stream for the last offset of subject subj (0: none).
func (l *Log) lastOffset(ctx context.Context, subj string) (uint64, error) {
	st, err := l.js.Stream(ctx, l.stream)
	if err != nil {
		return 0, fmt.Errorf("history: stream %s: %w", l.stream, err)
	}
	m, err := st.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("history: last message of %s: %w", subj, err)
	}
	return m.Sequence, nil
}

// After returns the messages of sub-channel channel with offsets above
// after, oldest first (at most the sub-channel's size).
func (l *Log) After(ctx context.Context, channel string, after uint64) ([]Entry, error) {
	seq, err := jetstreamext.GetBatch(ctx, l.js, l.stream, l.size,
		jetstreamext.GetBatchSeq(after+1), jetstreamext.GetBatchSubject(l.prefix+token(channel)))
	if err != nil {
		return nil, fmt.Errorf("history: read %s: %w", l.stream, err)
	}
	var out []Entry
	for m, err := range seq {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("history: read %s: %w", l.stream, err)
		}
		e, ok := entryOf(l.prefix, m.Subject, m.Sequence, m.Header, m.Data)
		if ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// Holds reports whether the message at offset is still stored and belongs
// to sub-channel channel.
func (l *Log) Holds(ctx context.Context, channel string, offset uint64) (bool, error) {
	st, err := l.js.Stream(ctx, l.stream)
	if err != nil {
		return false, fmt.Errorf("history: stream %s: %w", l.stream, err)
	}
	m, err := st.GetMsg(ctx, offset)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("history: message %d of %s: %w", offset, l.stream, err)
	}
	return m.Subject == l.prefix+token(channel), nil
}

// entryOf decodes a stored message; ok is false for a subject outside the
// namespace's sub-channels.
func entryOf(prefix, subject string, seq uint64, h nats.Header, data []byte) (Entry, bool) {
	t, ok := strings.CutPrefix(subject, prefix)
	if !ok {
		return Entry{}, false
	}
	ch, ok := untoken(t)
	if !ok {
		return Entry{}, false
	}
	prev, _ := strconv.ParseUint(h.Get(headerPrev), 10, 64)
	return Entry{Channel: ch, Offset: seq, Prev: prev, Data: data, Except: h.Values(headerExcept)}, true
}

// Latest, as the after of Consume, starts after the last message stored
// when the consumer starts.
const Latest = ^uint64(0)

// Consume delivers every message with an offset above after (Latest: above
// the last one stored now), in offset order, to deliver, on one goroutine,
// until Stop is called on the returned handle. It survives NATS reconnects
// without a gap or a duplicate (an ordered consumer resumes after the last
// message it delivered). failed hears the consumer's errors (a lost
// heartbeat, a deleted stream); it must not block. Consume returns the
// offset it starts after.
func (l *Log) Consume(ctx context.Context, after uint64, deliver func(Entry), failed func(error)) (jetstream.ConsumeContext, uint64, error) {
	if after == Latest {
		st, err := l.js.Stream(ctx, l.stream)
		if err != nil {
			return nil, 0, fmt.Errorf("history: stream %s: %w", l.stream, err)
		}
		after = st.CachedInfo().State.LastSeq
	}
	c, err := l.js.OrderedConsumer(ctx, l.stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   after + 1,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("history: consumer on %s: %w", l.stream, err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		if e, ok := entryOf(l.prefix, m.Subject(), md.Sequence.Stream, m.Headers(), m.Data()); ok {
			l.noteLast(m.Subject(), e.Offset)
			deliver(e)
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { failed(err) }))
	if err != nil {
		return nil, 0, fmt.Errorf("history: consume %s: %w", l.stream, err)
	}
	return cc, after, nil
}

// CurrentEpoch returns the epoch of the namespace's stream as the server
// has it now: not the log's own when the stream was lost and created again.
// It fails with an error matching jetstream.ErrStreamNotFound when the
// stream is gone.
func (l *Log) CurrentEpoch(ctx context.Context) (string, error) {
	st, err := l.js.Stream(ctx, l.stream)
	if err != nil {
		return "", err
	}
	return epochOf(st.CachedInfo().Created), nil
}
