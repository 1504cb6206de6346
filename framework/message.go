package mega

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Message is one frame received from a client:
// {"type": "...", "payload": ..., "ref": "..."}.
type Message struct {
	// Type names the message, e.g. "chat.send".
	Type string `json:"type"`
	// Payload is the raw JSON payload; decode it with Decode.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Ref is an optional client reference; replies carry the same ref.
	Ref string `json:"ref,omitempty"`
}

// Decode unmarshals the payload into v. A payload that does not fit v is
// reported as a bad_request Error the client will see.
func (m Message) Decode(v any) error {
	if len(m.Payload) == 0 {
		return BadRequest("payload is required")
	}
	if err := json.Unmarshal(m.Payload, v); err != nil {
		return BadRequest(fmt.Sprintf("payload of %q: %s", m.Type, jsonProblem(err)))
	}
	return nil
}

// Push is a message the server sends: a type and a payload that is encoded
// to JSON once, however many clients receive it.
type Push struct {
	Type    string
	Payload any
}

// Error is an error a client may see. Returned from a handler, it is sent
// back as an error frame {"type":"error","payload":{"code","message","ref"}}.
// Any other error a handler returns is logged and the client sees only
// code "internal".
type Error struct {
	// Code is a stable, machine-readable reason, e.g. "bad_request".
	Code string `json:"code"`
	// Message explains the problem to a person.
	Message string `json:"message"`
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is reports whether target is an *Error with the same code, so
// errors.Is(err, mega.ErrUnknownType) holds for any unknown_type error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// NewError returns an Error with the given code and message.
func NewError(code, message string) *Error { return &Error{Code: code, Message: message} }

// BadRequest returns a bad_request Error: the client sent something the
// server cannot use.
func BadRequest(message string) *Error { return NewError(CodeBadRequest, message) }

// Error codes the framework itself sends.
const (
	CodeBadRequest  = "bad_request"
	CodeUnknownType = "unknown_type"
	CodeInternal    = "internal"
)

// ErrUnknownType is returned by OnMessage (or a Router) for a message type
// the channel does not handle. The client gets an unknown_type error frame.
var ErrUnknownType = NewError(CodeUnknownType, "unknown message type")

// Errors returned by the framework. Callers branch on them with errors.Is.
var (
	// ErrClosed means the connection is closed; nothing more can be sent.
	ErrClosed = errors.New("mega: connection closed")
	// ErrSessionTaken means Presence.Join was given a session id that is
	// already live on this or another instance.
	ErrSessionTaken = errors.New("mega: session id is already in use")
	// ErrAlreadyJoined means Presence.Join was called twice without Leave.
	ErrAlreadyJoined = errors.New("mega: connection has already joined presence")
	// ErrNotJoined means the operation needs Presence.Join first.
	ErrNotJoined = errors.New("mega: connection has not joined presence")
	// ErrInvalidEntry means a presence entry is not acceptable (missing user
	// id, a user id other than the authenticated one, metadata or channel
	// limits exceeded); the wrapped message says which.
	ErrInvalidEntry = errors.New("mega: invalid presence entry")
	// ErrInvalidMessage means a message to send is not acceptable: no type,
	// no recipient, or a payload that does not encode to JSON; the wrapped
	// message says which.
	ErrInvalidMessage = errors.New("mega: invalid message")
	// ErrUnknownNamespace means App.Broadcast was given a namespace where no
	// channel is mounted.
	ErrUnknownNamespace = errors.New("mega: no channel is mounted at this namespace")
)

// jsonProblem turns a json error into a short phrase without Go type names.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s, got %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return fmt.Sprintf("must be %s, got %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	}
	return "invalid JSON"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "a boolean"
	}
	return "a number"
}

// appendFrame appends the JSON frame {"type":t,"payload":payload,"ref":ref}
// to dst. payload must be valid JSON or empty.
func appendFrame(dst []byte, t string, payload []byte, ref string) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendString(dst, t)
	if len(payload) > 0 {
		dst = append(dst, `,"payload":`...)
		dst = append(dst, payload...)
	}
	if ref != "" {
		dst = append(dst, `,"ref":`...)
		dst = appendString(dst, ref)
	}
	return append(dst, '}')
}

// encodeFrame encodes a frame whose payload is any Go value. A
// json.RawMessage or []byte payload is used as is after a validity check.
func encodeFrame(t string, payload any, ref string) ([]byte, error) {
	var raw []byte
	switch p := payload.(type) {
	case nil:
	case json.RawMessage:
		raw = p
	case []byte:
		raw = p
	default:
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("%w: encode payload of %q: %w", ErrInvalidMessage, t, err)
		}
		raw = b
	}
	if raw != nil && !json.Valid(raw) {
		return nil, fmt.Errorf("%w: payload of %q is not valid JSON", ErrInvalidMessage, t)
	}
	return appendFrame(make([]byte, 0, len(t)+len(raw)+len(ref)+32), t, raw, ref), nil
}

// errorFrame encodes an error frame that replies to ref.
func errorFrame(e *Error, ref string) []byte {
	p := make([]byte, 0, 64+len(e.Message))
	p = append(p, `{"code":`...)
	p = appendString(p, e.Code)
	p = append(p, `,"message":`...)
	p = appendString(p, e.Message)
	if ref != "" {
		p = append(p, `,"ref":`...)
		p = appendString(p, ref)
	}
	p = append(p, '}')
	return appendFrame(nil, "error", p, ref)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping what JSON requires and
// replacing invalid UTF-8.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
