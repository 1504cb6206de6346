package rest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/matryer/is"
	"github.com/rs/zerolog"

	"github.com/megaframework/mega/framework/rest"
)

// answer is a decoded answer: its status, Content-Type and error body.
type answer struct {
	status int
	ctype  string
	err    rest.ErrorBody
	body   string
}

func record(t *testing.T, h http.HandlerFunc, method, path, body string) answer {
	t.Helper()
	w := httptest.NewRecorder()
	h(w, httptest.NewRequest(method, path, strings.NewReader(body)))
	a := answer{status: w.Code, ctype: w.Header().Get("Content-Type"), body: w.Body.String()}
	if w.Code >= 400 {
		var e struct {
			Error *rest.ErrorBody `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == nil || e.Error.Fields == nil {
			t.Fatalf("%d answered %q, not an error body", w.Code, w.Body)
		}
		a.err = *e.Error
	}
	return a
}

// room is what the handler under test reads.
type room struct {
	Name   string
	Topic  string
	Seats  int64
	Open   bool
	OpenAt time.Time
}

// decodeRoom reads a room the way a generated resource does.
func decodeRoom(w http.ResponseWriter, r *http.Request) {
	f, ok := rest.Decode(w, r)
	if !ok {
		return
	}
	in := room{Name: f.String("name"), Topic: f.Text("topic"), Seats: f.Int("seats"), Open: f.Bool("open"), OpenAt: f.Time("openAt")}
	if !f.Check(w, "name", "topic", "seats", "open", "openAt", "id") {
		return
	}
	rest.JSON(w, http.StatusOK, in)
}

func TestDecode(t *testing.T) {
	const at = `"openAt": "2026-01-02T15:04:05+01:00"`
	tests := []struct {
		name   string
		body   string
		status int
		code   string
		fields map[string]string
	}{
		{"OK", `{"name": " kitchen ", "topic": "food", "seats": 4, "open": true, ` + at + `}`, 200, "", nil},
		{"OKNullsAndReadOnly", `{"name": "a", "topic": null, "seats": null, "id": 7, ` + at + `}`, 200, "", nil},
		{"NotJSON", `name=kitchen`, 400, rest.CodeBadRequest, map[string]string{}},
		{"Empty", ``, 400, rest.CodeBadRequest, map[string]string{}},
		{"Array", `[{"name": "a"}]`, 400, rest.CodeBadRequest, map[string]string{}},
		{"Null", `null`, 400, rest.CodeBadRequest, map[string]string{}},
		{"TrailingGarbage", `{"name": "a"} x`, 400, rest.CodeBadRequest, map[string]string{}},
		{"TooLarge", `{"name": "` + strings.Repeat("a", rest.MaxBody) + `"}`, 413, rest.CodeTooLarge, map[string]string{}},
		{"Missing", `{}`, 422, rest.CodeInvalid, map[string]string{"name": "is required", "openAt": "is required"}},
		{"Blank", `{"name": "  ", ` + at + `}`, 422, rest.CodeInvalid, map[string]string{"name": "is required"}},
		{"WrongTypes", `{"name": 1, "topic": [], "seats": 1.5, "open": "yes", "openAt": "monday"}`, 422, rest.CodeInvalid, map[string]string{
			"name": "must be a string", "topic": "must be a string", "seats": "must be a whole number",
			"open": "must be true or false", "openAt": "must be a time in RFC 3339 format, e.g. 2026-01-02T15:04:05Z",
		}},
		{"TooLong", `{"name": "` + strings.Repeat("é", rest.MaxString+1) + `", ` + at + `}`, 422, rest.CodeInvalid, map[string]string{"name": "must be at most 255 characters, got 256"}},
		{"Unknown", `{"name": "a", "colour": "red", ` + at + `}`, 422, rest.CodeInvalid, map[string]string{"colour": "is not a known field"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			a := record(t, decodeRoom, http.MethodPost, "/rooms", tc.body)
			is.Equal(a.status, tc.status)
			is.Equal(a.ctype, "application/json; charset=utf-8")
			is.Equal(a.err.Code, tc.code)
			if tc.fields != nil {
				is.Equal(a.err.Fields, tc.fields)
			}
		})
	}
}

func TestDecodeReads(t *testing.T) {
	is := is.New(t)
	a := record(t, decodeRoom, http.MethodPost, "/rooms", `{"name": " kitchen ", "topic": "food", "seats": 4, "open": true, "openAt": "2026-01-02T15:04:05+01:00"}`)
	is.Equal(a.status, http.StatusOK)
	var got room
	is.NoErr(json.Unmarshal([]byte(a.body), &got))
	want := room{Name: "kitchen", Topic: "food", Seats: 4, Open: true, OpenAt: time.Date(2026, 1, 2, 14, 4, 5, 0, time.UTC)}
	is.Equal(got, want)
	is.Equal(got.OpenAt.Location(), time.UTC) // times are returned in UTC
}

func TestCheckMessage(t *testing.T) {
	is := is.New(t)
	a := record(t, decodeRoom, http.MethodPost, "/rooms", `{"colour": 1}`)
	is.Equal(a.err.Message, "colour is not a known field; name is required; openAt is required") // sorted by field
}

func TestProblem(t *testing.T) {
	is := is.New(t)
	h := func(w http.ResponseWriter, r *http.Request) {
		f, ok := rest.Decode(w, r)
		if !ok {
			return
		}
		if f.String("name") == "taken" {
			f.Problem("name", "is taken")
		}
		if f.Check(w, "name") {
			w.WriteHeader(http.StatusNoContent)
		}
	}
	is.Equal(record(t, h, http.MethodPost, "/", `{"name": "free"}`).status, http.StatusNoContent)
	a := record(t, h, http.MethodPost, "/", `{"name": "taken"}`)
	is.Equal(a.status, http.StatusUnprocessableEntity)
	is.Equal(a.err.Fields, map[string]string{"name": "is taken"})
}

func TestSmallerLimit(t *testing.T) {
	is := is.New(t)
	h := func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 8)
		if _, ok := rest.Decode(w, r); ok {
			w.WriteHeader(http.StatusNoContent)
		}
	}
	is.Equal(record(t, h, http.MethodPost, "/", `{"a":1}`).status, http.StatusNoContent)
	a := record(t, h, http.MethodPost, "/", `{"a": 12345}`)
	is.Equal(a.status, http.StatusRequestEntityTooLarge)
	is.Equal(a.err.Message, "the body is larger than 8 bytes") // the limit that was hit
}

// failingBody fails every read.
type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestUnreadableBody(t *testing.T) {
	is := is.New(t)
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/", failingBody{})
	_, ok := rest.Decode(w, r)
	is.True(!ok)
	is.Equal(w.Code, http.StatusBadRequest)
	is.True(strings.Contains(w.Body.String(), `"code":"bad_request"`))
}

func TestRoutes(t *testing.T) {
	api := rest.Router()
	api.Route("/rooms", func(r chi.Router) {
		r.Get("/", func(w http.ResponseWriter, r *http.Request) { rest.JSON(w, http.StatusOK, []string{}) })
		r.Get("/{id}", func(w http.ResponseWriter, r *http.Request) {
			if _, ok := rest.PathID(r, "id"); !ok {
				rest.Missing(w, "room", chi.URLParam(r, "id"))
				return
			}
			rest.JSON(w, http.StatusOK, map[string]string{})
		})
	})
	root := chi.NewRouter()
	root.Mount("/api", api)
	root.Get("/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("page")) })

	tests := []struct {
		name, method, path string
		status             int
		code, message      string
	}{
		{"Route", "GET", "/api/rooms", 200, "", ""},
		{"UnknownPath", "GET", "/api/nope", 404, rest.CodeNotFound, "nothing at /api/nope"},
		{"ApiItself", "GET", "/api", 404, rest.CodeNotFound, "nothing at /api"},
		{"UnderAResource", "GET", "/api/rooms/1/seats", 404, rest.CodeNotFound, "nothing at /api/rooms/1/seats"},
		{"WrongMethod", "PATCH", "/api/rooms", 405, rest.CodeMethodNotAllowed, "PATCH is not allowed at /api/rooms"},
		{"BadID", "GET", "/api/rooms/x", 404, rest.CodeNotFound, `no room with id "x"`},
		{"ZeroID", "GET", "/api/rooms/0", 404, rest.CodeNotFound, `no room with id "0"`},
		{"GoodID", "GET", "/api/rooms/7", 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			a := record(t, root.ServeHTTP, tc.method, tc.path, "")
			is.Equal(a.status, tc.status)
			is.Equal(a.ctype, "application/json; charset=utf-8")
			is.Equal(a.err.Code, tc.code)
			is.Equal(a.err.Message, tc.message)
		})
	}

	t.Run("AllowHeader", func(t *testing.T) {
		for _, tc := range []struct{ path, allow string }{
			{"/api/rooms", "GET"},
			{"/api/rooms/7", "GET"},
		} {
			is := is.New(t)
			w := httptest.NewRecorder()
			root.ServeHTTP(w, httptest.NewRequest(http.MethodPatch, tc.path, nil))
			is.Equal(w.Code, http.StatusMethodNotAllowed)
			is.Equal(w.Header().Values("Allow"), []string{tc.allow}) // HTTP: a 405 lists what is allowed
			is.True(strings.Contains(w.Body.String(), `"code":"method_not_allowed"`))
		}
	})

	t.Run("AllowInOrder", func(t *testing.T) {
		is := is.New(t)
		api := rest.Router()
		ok := func(http.ResponseWriter, *http.Request) {}
		api.Delete("/seats/{id}", ok)
		api.Put("/seats/{id}", ok)
		api.Get("/seats/{id}", ok)
		for range 20 { // chi lists them in no fixed order
			w := httptest.NewRecorder()
			api.ServeHTTP(w, httptest.NewRequest(http.MethodPatch, "/seats/1", nil))
			is.Equal(w.Header().Values("Allow"), []string{"GET", "PUT", "DELETE"})
		}
	})

	t.Run("HandlersOwn405", func(t *testing.T) {
		is := is.New(t)
		api := rest.Router()
		api.Post("/vote", func(w http.ResponseWriter, r *http.Request) {
			rest.Error(w, http.StatusMethodNotAllowed, "closed", "voting has ended", nil)
		})
		w := httptest.NewRecorder()
		api.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/vote", nil))
		is.Equal(w.Code, http.StatusMethodNotAllowed)
		is.True(strings.Contains(w.Body.String(), `"code":"closed"`)) // passed as it is
	})

	t.Run("OutsideTheAPI", func(t *testing.T) {
		is := is.New(t)
		w := httptest.NewRecorder()
		root.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/nope", nil))
		is.Equal(w.Code, http.StatusNotFound)
		is.True(strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain")) // only the API's router answers JSON
	})
}

func TestInternalError(t *testing.T) {
	is := is.New(t)
	var logs bytes.Buffer
	log := zerolog.New(&logs)
	h := func(w http.ResponseWriter, r *http.Request) {
		rest.InternalError(w, r, &log, errors.New("disk on fire"))
	}
	a := record(t, h, http.MethodDelete, "/api/rooms/3", "")
	is.Equal(a.status, http.StatusInternalServerError)
	is.Equal(a.err, rest.ErrorBody{Code: rest.CodeInternal, Message: "internal error", Fields: map[string]string{}}) // no details
	var line map[string]string
	is.NoErr(json.Unmarshal(logs.Bytes(), &line))
	is.Equal(line["error"], "disk on fire")
	is.Equal(line["method"], "DELETE")
	is.Equal(line["path"], "/api/rooms/3")
}

func TestErrorShape(t *testing.T) {
	is := is.New(t)
	w := httptest.NewRecorder()
	rest.Error(w, http.StatusConflict, "taken", "the name is taken", map[string]string{"name": "is taken"})
	is.Equal(w.Code, http.StatusConflict)
	is.Equal(w.Body.String(), `{"error":{"code":"taken","message":"the name is taken","fields":{"name":"is taken"}}}`+"\n")
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{}`, `{"name": "a", "seats": 2}`, `null`, `[]`, `"x"`, `{"openAt": "2026-01-02T15:04:05Z"}`, `{"name": 1}`, `{`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		decodeRoom(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)))
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("%q: status %d", body, w.Code)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%q: answer is not JSON: %q", body, w.Body)
		}
	})
}
