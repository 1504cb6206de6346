// Package rest holds what a JSON HTTP API of a mega app needs besides its
// own handlers: reading a JSON object body with a size limit, typed field
// readers that collect every validation problem, and one shape for every
// error answer:
//
//	{"error": {"code": "validation_failed", "message": "...", "fields": {"name": "is required"}}}
//
// A body that is not a JSON object gets 400 bad_request (413 too_large when
// it is larger than the limit), a JSON object that fails validation 422
// validation_failed (fields says which and why), an unknown record or route
// 404 not_found, a method a route does not serve 405 method_not_allowed and
// a failure of the server 500 internal, with its details logged, not sent.
//
// Router returns a chi router whose every answer is JSON in that shape, the
// unknown paths and methods included; mount it where the API lives:
//
//	api := rest.Router()
//	r.Mount("/api", api)
//
// The package is named for what it serves, so call sites read as
// rest.Decode, rest.JSON, rest.Error; "api" is left for the router.
package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"
)

// Error codes: the "code" of an error answer.
const (
	CodeBadRequest       = "bad_request"        // 400: the body is not a JSON object
	CodeTooLarge         = "too_large"          // 413: the body is larger than the limit
	CodeInvalid          = "validation_failed"  // 422: fields says which and why
	CodeNotFound         = "not_found"          // 404: no such record or route
	CodeMethodNotAllowed = "method_not_allowed" // 405: the route does not serve the method
	CodeInternal         = "internal"           // 500: logged, details not sent
)

// ErrorBody is the value of "error" in an error answer. Fields is never
// nil on the wire: an answer without field problems has {}.
type ErrorBody struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

// JSON answers with status and v encoded as JSON.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is sent: a failure can only be logged by the server
}

// Error answers with status and an error body; fields may be nil.
func Error(w http.ResponseWriter, status int, code, message string, fields map[string]string) {
	if fields == nil {
		fields = map[string]string{}
	}
	JSON(w, status, map[string]ErrorBody{"error": {Code: code, Message: message, Fields: fields}})
}

// Missing answers 404 for the record of kind with id, e.g. no room with
// id "7".
func Missing(w http.ResponseWriter, kind, id string) {
	Error(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("no %s with id %q", kind, id), nil)
}

// NotFound answers 404 for a path no route serves. Set it as a router's
// NotFound handler.
func NotFound(w http.ResponseWriter, r *http.Request) {
	Error(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("nothing at %s", r.URL.Path), nil)
}

// Router returns a new chi router for a JSON API: an unknown path answers
// 404 not_found (NotFound) and a method the path's route does not serve
// 405 method_not_allowed, in the one error shape. The 405 keeps the Allow
// header chi's router computes, listing the methods the route serves, as
// HTTP requires.
func Router() *chi.Mux {
	r := chi.NewRouter()
	r.NotFound(NotFound)
	r.Use(jsonMethodNotAllowed)
	return r
}

// jsonMethodNotAllowed answers chi's own 405 (which sets Allow, then an
// empty body) with the JSON error instead. A handler's 405 that already
// says what it is (a Content-Type) passes as it is.
func jsonMethodNotAllowed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&methodNotAllowedWriter{ResponseWriter: w, r: r}, r)
	})
}

// methodNotAllowedWriter turns a bare 405 into the JSON error.
type methodNotAllowedWriter struct {
	http.ResponseWriter
	r        *http.Request
	answered bool // the JSON 405 was written: drop what the router writes
}

func (w *methodNotAllowedWriter) WriteHeader(code int) {
	if code == http.StatusMethodNotAllowed && w.Header().Get("Content-Type") == "" {
		w.answered = true
		// chi lists the methods in no fixed order: sort them as HTTP names them.
		slices.SortFunc(w.Header()["Allow"], func(a, b string) int { return methodRank(a) - methodRank(b) })
		Error(w.ResponseWriter, code, CodeMethodNotAllowed, fmt.Sprintf("%s is not allowed at %s", w.r.Method, w.r.URL.Path), nil)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// methodOrder is the order of the methods in an Allow header.
var methodOrder = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace,
}

// methodRank is m's place in methodOrder; other methods come after.
func methodRank(m string) int {
	if i := slices.Index(methodOrder, m); i >= 0 {
		return i
	}
	return len(methodOrder)
}

func (w *methodNotAllowedWriter) Write(b []byte) (int, error) {
	if w.answered {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *methodNotAllowedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// InternalError logs err with the request's method and path and answers
// 500 without its details.
func InternalError(w http.ResponseWriter, r *http.Request, log *zerolog.Logger, err error) {
	log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Msg("request failed")
	Error(w, http.StatusInternalServerError, CodeInternal, "internal error", nil)
}

// PathID returns the route parameter key (e.g. "id" of /rooms/{id}) as a
// positive integer, and false when it is not one.
func PathID(r *http.Request, key string) (int64, bool) {
	id, err := strconv.ParseInt(chi.URLParam(r, key), 10, 64)
	return id, err == nil && id > 0
}
