package main

import (
	"bytes"
	"strconv"
)

// The marker is how a delivery is recognised in any frame format: the
// publisher puts "~mb1:<seq>:<ns>~" in the text it sends, where ns is the
// send time in nanoseconds since the tool started, and the subscribers look
// for it in whatever frame the server makes of it (a centrifuge frame may
// carry several).
var markerPrefix = []byte("~mb1:")

// appendMarker appends the marker of broadcast seq sent at ns, padded with
// 'x' so that the text is at least size bytes.
func appendMarker(dst []byte, seq, ns int64, size int) []byte {
	start := len(dst)
	dst = append(dst, markerPrefix...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, ns, 10)
	dst = append(dst, '~')
	for len(dst)-start < size {
		dst = append(dst, 'x')
	}
	return dst
}

// nextMarker finds the first marker in b and returns its sequence number
// and timestamp and the rest of b after it; ok is false when there is none.
func nextMarker(b []byte) (seq, ns int64, rest []byte, ok bool) {
	for {
		i := bytes.Index(b, markerPrefix)
		if i < 0 {
			return 0, 0, nil, false
		}
		b = b[i+len(markerPrefix):]
		var n1, n2 int
		seq, n1 = parseUint(b)
		if n1 == 0 || n1 >= len(b) || b[n1] != ':' {
			continue
		}
		ns, n2 = parseUint(b[n1+1:])
		end := n1 + 1 + n2
		if n2 == 0 || end >= len(b) || b[end] != '~' {
			continue
		}
		return seq, ns, b[end+1:], true
	}
}

// parseUint parses the leading decimal digits of b (at most 18).
func parseUint(b []byte) (v int64, n int) {
	for n < len(b) && n < 18 && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + int64(b[n]-'0')
		n++
	}
	return v, n
}

// encodePublish appends the frame a publisher sends for broadcast seq.
func (c *config) encodePublish(dst []byte, id, seq, ns int64) []byte {
	switch c.Protocol {
	case "raw":
		return appendMarker(dst, seq, ns, c.Payload)
	case "centrifuge":
		dst = append(dst, `{"id":`...)
		dst = strconv.AppendInt(dst, id, 10)
		dst = append(dst, `,"publish":{"channel":`...)
		dst = strconv.AppendQuote(dst, c.Channel)
		dst = append(dst, `,"data":{"text":"`...)
		dst = appendMarker(dst, seq, ns, c.Payload)
		return append(dst, `"}}}`...)
	default: // mega
		dst = append(dst, `{"type":`...)
		dst = strconv.AppendQuote(dst, c.MessageType)
		dst = append(dst, `,"payload":{"text":"`...)
		dst = appendMarker(dst, seq, ns, c.Payload)
		return append(dst, `"}}`...)
	}
}

// hello is what a client sends right after connecting, if anything.
func (c *config) hello() []byte {
	if c.Protocol == "centrifuge" {
		// Server-side subscriptions are set up by the connect reply.
		return []byte(`{"id":1,"connect":{}}`)
	}
	return nil
}

// isPing reports whether a frame is a centrifuge ping, which the client
// must answer with a pong ({} both).
// Centrifuge may batch several messages into one frame, one per line.
func (c *config) isPing(frame []byte) bool {
	if c.Protocol != "centrifuge" {
		return false
	}
	for line := range bytes.SplitSeq(frame, []byte{'\n'}) {
		if bytes.Equal(bytes.TrimSpace(line), []byte("{}")) {
			return true
		}
	}
	return false
}
