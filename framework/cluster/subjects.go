package cluster

import (
	"encoding/base64"
	"strings"
	"sync"
	"sync/atomic"
)

// Subjects. With base = "<prefix>.<app>":
//
//	<base>.n.<nsToken>     broadcasts to one namespace
//	<base>.d               directs to a user (every namespace of the app)
//	<base>.roster          deltas, heartbeats, byes and sync requests
//	<base>.state.<id>      state requests to one instance
//	<base>.reply.<id>      replies to one instance (state chunks, heartbeats)
//
// Namespaces are encoded as a token (base64url without padding; the empty
// namespace is "_", which no encoding produces), and user ids, channels and
// session ids only ever travel in payloads, so nothing a user controls can
// add, remove or wildcard a subject token.

// emptyNSToken stands for the empty namespace; base64 never yields one character.
const emptyNSToken = "_"

// nsToken encodes a namespace as one subject token.
func nsToken(ns string) string {
	if ns == "" {
		return emptyNSToken
	}
	return base64.RawURLEncoding.EncodeToString([]byte(ns))
}

// validToken reports whether s can be used as one NATS subject token: not
// empty, no separators, wildcards, whitespace or control characters.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' || c == '*' || c == '>':
			return false
		case c <= ' ' || c == 0x7f:
			return false
		}
	}
	return true
}

// validSubject reports whether s is one or more valid tokens joined by dots.
func validSubject(s string) bool {
	if s == "" {
		return false
	}
	for _, t := range strings.Split(s, ".") {
		if !validToken(t) {
			return false
		}
	}
	return true
}

// subjectCache memoizes namespace subjects for the publish path. It is
// bounded: past maxCachedSubjects it computes subjects without storing them.
type subjectCache struct {
	prefix string // "<base>.n."
	m      sync.Map
	n      atomic.Int64
}

const maxCachedSubjects = 4096

func (c *subjectCache) get(ns string) string {
	if v, ok := c.m.Load(ns); ok {
		return v.(string)
	}
	s := c.prefix + nsToken(ns)
	if c.n.Load() < maxCachedSubjects {
		if _, loaded := c.m.LoadOrStore(ns, s); !loaded {
			c.n.Add(1)
		}
	}
	return s
}
