package mainapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	mega "github.com/megaframework/mega/framework"
)

// This file holds the JSON helpers the REST resources share. Every error
// answer has one shape:
//
//	{"error": {"code": "validation_failed", "message": "...", "fields": {"name": "is required"}}}
//
// A body that is not a JSON object gets 400 bad_request, a JSON object that
// fails validation 422 validation_failed (fields says which and why), an
// unknown id 404 not_found.

// Error codes of the REST API.
const (
	codeBadRequest = "bad_request"
	codeTooLarge   = "too_large"
	codeInvalid    = "validation_failed"
	codeNotFound   = "not_found"
	codeInternal   = "internal"
)

// maxBody is the largest request body the API reads.
const maxBody = 1 << 20

// Limits of the field types, in characters.
const (
	maxString = 255
	maxText   = 65535
)

// apiError is the body of an error answer.
type apiError struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

// writeJSON answers with status and v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with status and an error body; fields may be nil.
func writeError(w http.ResponseWriter, status int, code, message string, fields map[string]string) {
	if fields == nil {
		fields = map[string]string{}
	}
	writeJSON(w, status, map[string]apiError{"error": {Code: code, Message: message, Fields: fields}})
}

// notFound answers 404 for the record of kind with id.
func notFound(w http.ResponseWriter, kind, id string) {
	writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("no %s with id %q", kind, id), nil)
}

// internalError logs err and answers 500 without its details.
func internalError(w http.ResponseWriter, r *http.Request, app *mega.App, err error) {
	app.Logger().Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("request failed")
	writeError(w, http.StatusInternalServerError, codeInternal, "internal error", nil)
}

// pathID returns the {id} of the route as a positive integer.
func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	return id, err == nil && id > 0
}

// fields reads one JSON object field by field and collects every problem,
// keyed by field name.
type fields struct {
	obj      map[string]json.RawMessage
	problems map[string]string
}

// readFields reads the request body as a JSON object. When it is not one
// it answers 400 (413 when too large) and returns false.
func readFields(w http.ResponseWriter, r *http.Request) (*fields, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxBody), nil)
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, codeBadRequest, "the body could not be read", nil)
		return nil, false
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, `the body must be a JSON object, e.g. {"name": "..."}`, nil)
		return nil, false
	}
	return &fields{obj: obj, problems: map[string]string{}}, true
}

// raw returns the field's JSON, or nil when it is absent or null.
func (f *fields) raw(key string) json.RawMessage {
	v := f.obj[key]
	if string(v) == "null" {
		return nil
	}
	return v
}

// String reads a required string of at most maxString characters,
// trimmed of surrounding space.
func (f *fields) String(key string) string {
	s, ok := f.text(key, maxString)
	if ok && s == "" {
		f.problems[key] = "is required"
	}
	return s
}

// Text reads an optional string of at most maxText characters.
func (f *fields) Text(key string) string {
	s, _ := f.text(key, maxText)
	return s
}

func (f *fields) text(key string, limit int) (string, bool) {
	v := f.raw(key)
	if v == nil {
		return "", true
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		f.problems[key] = "must be a string"
		return "", false
	}
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n > limit {
		f.problems[key] = fmt.Sprintf("must be at most %d characters, got %d", limit, n)
		return "", false
	}
	return s, true
}

// Int reads an optional whole number; absent means 0.
func (f *fields) Int(key string) int64 {
	var n int64
	if v := f.raw(key); v != nil && json.Unmarshal(v, &n) != nil {
		f.problems[key] = "must be a whole number"
	}
	return n
}

// Bool reads an optional true or false; absent means false.
func (f *fields) Bool(key string) bool {
	var b bool
	if v := f.raw(key); v != nil && json.Unmarshal(v, &b) != nil {
		f.problems[key] = "must be true or false"
	}
	return b
}

// Time reads a required time in RFC 3339 format, stored in UTC.
func (f *fields) Time(key string) time.Time {
	v := f.raw(key)
	if v == nil {
		f.problems[key] = "is required"
		return time.Time{}
	}
	var s string
	t, err := time.Time{}, json.Unmarshal(v, &s)
	if err == nil {
		t, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		f.problems[key] = "must be a time in RFC 3339 format, e.g. 2026-01-02T15:04:05Z"
	}
	return t.UTC()
}

// Check reports unknown fields (besides the read-only id, createdAt and
// updatedAt, which clients may send back) and answers 422 when any field
// has a problem. It returns whether the object is valid.
func (f *fields) Check(w http.ResponseWriter, known ...string) bool {
	for key := range f.obj {
		switch key {
		case "id", "createdAt", "updatedAt":
			continue
		}
		if !slices.Contains(known, key) {
			f.problems[key] = "is not a known field"
		}
	}
	if len(f.problems) == 0 {
		return true
	}
	keys := slices.Sorted(maps.Keys(f.problems))
	msg := make([]string, len(keys))
	for i, k := range keys {
		msg[i] = k + " " + f.problems[k]
	}
	writeError(w, http.StatusUnprocessableEntity, codeInvalid, strings.Join(msg, "; "), f.problems)
	return false
}

// dbTime is how times are stored: RFC 3339 in UTC with nanoseconds, so
// they sort as text.
const dbTime = "2006-01-02T15:04:05.000000000Z07:00"

// formatTime formats t for the database.
func formatTime(t time.Time) string { return t.UTC().Format(dbTime) }

// timeColumn scans a time stored by formatTime into *t.
type timeColumn struct{ t *time.Time }

// Scan implements sql.Scanner.
func (c timeColumn) Scan(v any) error {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("a time column holds %T, want text", v)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("a time column holds %q: %w", s, err)
	}
	*c.t = t
	return nil
}
