package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxBody is the largest request body Decode reads, in bytes. A handler
// that wants a smaller limit wraps r.Body in http.MaxBytesReader first;
// the 413 answer names whichever limit was hit.
const MaxBody = 1 << 20

// Limits of the string readers, in characters.
const (
	MaxString = 255   // Object.String
	MaxText   = 65535 // Object.Text
)

// Object is a request body read as one JSON object. Its readers read a
// field each and collect every problem, keyed by field name; Check answers
// them all at once with 422.
type Object struct {
	obj      map[string]json.RawMessage
	problems map[string]string
}

// Decode reads the request body as a JSON object. When it is not one it
// answers 400 (413 when larger than MaxBody) and returns false.
func Decode(w http.ResponseWriter, r *http.Request) (*Object, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		Error(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit), nil)
		return nil, false
	case err != nil:
		Error(w, http.StatusBadRequest, CodeBadRequest, "the body could not be read", nil)
		return nil, false
	}
	o, err := parseObject(body)
	if err != nil {
		Error(w, http.StatusBadRequest, CodeBadRequest, `the body must be a JSON object, e.g. {"name": "..."}`, nil)
		return nil, false
	}
	return o, true
}

// errNotObject is what parseObject returns for any JSON value but an object.
var errNotObject = errors.New("rest: the body is not a JSON object")

// parseObject parses body as one JSON object.
func parseObject(body []byte) (*Object, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("%w: %w", errNotObject, err)
	}
	if obj == nil {
		return nil, errNotObject // null
	}
	return &Object{obj: obj, problems: map[string]string{}}, nil
}

// raw returns the field's JSON, or nil when it is absent or null.
func (o *Object) raw(key string) json.RawMessage {
	v := o.obj[key]
	if string(v) == "null" {
		return nil
	}
	return v
}

// Problem records a problem of the field key, e.g. "is taken", for a check
// of the app's own. Check reports it.
func (o *Object) Problem(key, problem string) { o.problems[key] = problem }

// String reads a required string of at most MaxString characters, trimmed
// of surrounding space.
func (o *Object) String(key string) string {
	s, ok := o.text(key, MaxString)
	if ok && s == "" {
		o.problems[key] = "is required"
	}
	return s
}

// Text reads an optional string of at most MaxText characters, trimmed of
// surrounding space; absent means "".
func (o *Object) Text(key string) string {
	s, _ := o.text(key, MaxText)
	return s
}

func (o *Object) text(key string, limit int) (string, bool) {
	v := o.raw(key)
	if v == nil {
		return "", true
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		o.problems[key] = "must be a string"
		return "", false
	}
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n > limit {
		o.problems[key] = fmt.Sprintf("must be at most %d characters, got %d", limit, n)
		return "", false
	}
	return s, true
}

// Int reads an optional whole number; absent means 0.
func (o *Object) Int(key string) int64 {
	var n int64
	if v := o.raw(key); v != nil && json.Unmarshal(v, &n) != nil {
		o.problems[key] = "must be a whole number"
	}
	return n
}

// Bool reads an optional true or false; absent means false.
func (o *Object) Bool(key string) bool {
	var b bool
	if v := o.raw(key); v != nil && json.Unmarshal(v, &b) != nil {
		o.problems[key] = "must be true or false"
	}
	return b
}

// Time reads a required time in RFC 3339 format, returned in UTC.
func (o *Object) Time(key string) time.Time {
	v := o.raw(key)
	if v == nil {
		o.problems[key] = "is required"
		return time.Time{}
	}
	var s string
	t, err := time.Time{}, json.Unmarshal(v, &s)
	if err == nil {
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		o.problems[key] = "must be a time in RFC 3339 format, e.g. 2026-01-02T15:04:05Z"
	}
	return t.UTC()
}

// Check reports every field not in known as unknown and answers 422 with
// all problems when there is any. It returns whether the object is valid.
// Fields a client may send back but not change (an id, timestamps) belong
// in known: they are accepted and ignored.
func (o *Object) Check(w http.ResponseWriter, known ...string) bool {
	for key := range o.obj {
		if !slices.Contains(known, key) {
			o.problems[key] = "is not a known field"
		}
	}
	if len(o.problems) == 0 {
		return true
	}
	keys := slices.Sorted(maps.Keys(o.problems))
	msg := make([]string, len(keys))
	for i, k := range keys {
		msg[i] = k + " " + o.problems[k]
	}
	Error(w, http.StatusUnprocessableEntity, CodeInvalid, strings.Join(msg, "; "), o.problems)
	return false
}
