package mainapp_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/matryer/is"
	"github.com/megaframework/mega/framework/megatest"

	mainapp "crud/apps/main"
)

func TestRoomsCRUD(t *testing.T) {
	is := is.New(t)
	srv := startApp(t)
	base := srv.URL + "/api/rooms"

	var list []mainapp.Room
	status, _ := apiCall(t, http.MethodGet, base, "", &list)
	is.Equal(status, http.StatusOK)
	is.Equal(len(list), 0) // a fresh database

	var created mainapp.Room
	status, _ = apiCall(t, http.MethodPost, base, `{"name": "name one", "topic": "topic one"}`, &created)
	is.Equal(status, http.StatusCreated)
	is.True(created.ID > 0)
	is.Equal(created.Name, "name one")
	is.Equal(created.Topic, "topic one")
	is.True(!created.CreatedAt.IsZero())
	is.Equal(created.UpdatedAt, created.CreatedAt)
	one := fmt.Sprintf("%s/%d", base, created.ID)

	var got mainapp.Room
	status, _ = apiCall(t, http.MethodGet, one, "", &got)
	is.Equal(status, http.StatusOK)
	is.Equal(got, created)

	status, _ = apiCall(t, http.MethodGet, base, "", &list)
	is.Equal(status, http.StatusOK)
	is.Equal(list, []mainapp.Room{created})

	var updated mainapp.Room
	status, _ = apiCall(t, http.MethodPut, one, `{"name": "name two", "topic": "topic two"}`, &updated)
	is.Equal(status, http.StatusOK)
	is.Equal(updated.ID, created.ID)
	is.Equal(updated.Name, "name two")
	is.Equal(updated.Topic, "topic two")
	is.Equal(updated.CreatedAt, created.CreatedAt)
	is.True(!updated.UpdatedAt.Before(created.UpdatedAt))

	status, _ = apiCall(t, http.MethodGet, one, "", &got)
	is.Equal(status, http.StatusOK)
	is.Equal(got, updated) // the change was stored

	status, _ = apiCall(t, http.MethodDelete, one, "", nil)
	is.Equal(status, http.StatusNoContent)
	status, e := apiCall(t, http.MethodGet, one, "", nil)
	is.Equal(status, http.StatusNotFound)
	is.Equal(e.Code, "not_found")
}

func TestRoomsErrors(t *testing.T) {
	srv := startApp(t)
	base := srv.URL + "/api/rooms"
	var existing mainapp.Room
	if status, e := apiCall(t, http.MethodPost, base, `{"name": "name one", "topic": "topic one"}`, &existing); status != http.StatusCreated {
		t.Fatalf("create: %d %+v", status, e)
	}
	one := fmt.Sprintf("%s/%d", base, existing.ID)
	unknown := base + "/999999"

	cases := []struct {
		name        string
		method, url string
		body        string
		status      int
		code        string
		field       string // named in the error's fields
	}{
		{"create with a body that is not JSON", http.MethodPost, base, `name=x`, http.StatusBadRequest, "bad_request", ""},
		{"create with JSON that is not an object", http.MethodPost, base, `["x"]`, http.StatusBadRequest, "bad_request", ""},
		{"create without a body", http.MethodPost, base, ``, http.StatusBadRequest, "bad_request", ""},
		{"replace with a body that is not JSON", http.MethodPut, one, `{`, http.StatusBadRequest, "bad_request", ""},
		{"create without name", http.MethodPost, base, `{}`, http.StatusUnprocessableEntity, "validation_failed", "name"},
		{"replace without name", http.MethodPut, one, `{}`, http.StatusUnprocessableEntity, "validation_failed", "name"},
		{"create with name of the wrong type", http.MethodPost, base, `{"name": 5, "topic": "topic one"}`, http.StatusUnprocessableEntity, "validation_failed", "name"},
		{"create with an unknown field", http.MethodPost, base, `{"name": "name one", "topic": "topic one", "nope": 1}`, http.StatusUnprocessableEntity, "validation_failed", "nope"},
		{"get an unknown id", http.MethodGet, unknown, "", http.StatusNotFound, "not_found", ""},
		{"get an id that is not a number", http.MethodGet, base + "/abc", "", http.StatusNotFound, "not_found", ""},
		{"replace an unknown id", http.MethodPut, unknown, `{"name": "name two", "topic": "topic two"}`, http.StatusNotFound, "not_found", ""},
		{"delete an unknown id", http.MethodDelete, unknown, "", http.StatusNotFound, "not_found", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			status, e := apiCall(t, tc.method, tc.url, tc.body, nil)
			is.Equal(status, tc.status)
			is.Equal(e.Code, tc.code)
			is.True(e.Message != "")
			if tc.field != "" {
				is.True(e.Fields[tc.field] != "") // the field with the problem is named
			}
		})
	}

	// None of the refused requests changed anything.
	is := is.New(t)
	var got mainapp.Room
	status, _ := apiCall(t, http.MethodGet, one, "", &got)
	is.Equal(status, http.StatusOK)
	is.Equal(got, existing)
	var list []mainapp.Room
	apiCall(t, http.MethodGet, base, "", &list)
	is.Equal(len(list), 1)
}

// TestRoomsLive checks the live events: after each change that
// succeeded, every connection of /ws/chat gets exactly one
// rooms.created, rooms.updated or rooms.deleted; a refused request
// sends nothing. Frames reach one connection in the order they were sent,
// so "nothing" is shown without waiting: when the event of a later change
// arrives, no earlier one is buffered. The watchers connect the way the
// channels mega writes expect (?name=, then a welcome frame); change that
// if the channel at /ws/chat wants something else.
func TestRoomsLive(t *testing.T) {
	is := is.New(t)
	srv := startApp(t)
	base := srv.URL + "/api/rooms"
	var watchers []*megatest.Client
	for _, name := range []string{"ann", "bob"} {
		c := srv.Dial(t, "/ws/chat?name="+name)
		c.Expect(t, "welcome") // sent by OnConnect: from now on the connection gets every broadcast
		watchers = append(watchers, c)
	}
	// expect checks that every watcher's next frame of type typ has
	// exactly the payload want, and that no other rooms event is buffered.
	expect := func(typ string, want any) {
		t.Helper()
		for _, c := range watchers {
			f := c.Expect(t, typ)
			switch want := want.(type) {
			case mainapp.Room:
				var got map[string]mainapp.Room
				f.Decode(t, &got)
				is.Equal(got, map[string]mainapp.Room{"room": want}) // the REST body, under "room"
			case int64:
				var got map[string]int64
				f.Decode(t, &got)
				is.Equal(got, map[string]int64{"id": want})
			default:
				t.Fatalf("expect(%q, %T): want a Room or an id", typ, want)
			}
			for _, other := range []string{"rooms.created", "rooms.updated", "rooms.deleted"} {
				is.Equal(c.Count(other), 0) // one event per change, none for refused requests
			}
		}
	}

	var created mainapp.Room
	status, _ := apiCall(t, http.MethodPost, base, `{"name": "name one", "topic": "topic one"}`, &created)
	is.Equal(status, http.StatusCreated)
	expect("rooms.created", created)
	one := fmt.Sprintf("%s/%d", base, created.ID)
	unknown := base + "/999999"

	// Refused requests: 400, 422, 404.
	for _, req := range []struct {
		method, url, body string
		status            int
	}{
		{http.MethodPost, base, `{`, http.StatusBadRequest},
		{http.MethodPost, base, `{"name": 5, "topic": "topic one"}`, http.StatusUnprocessableEntity},
		{http.MethodPut, one, `{"name": "name one", "topic": "topic one", "nope": 1}`, http.StatusUnprocessableEntity},
		{http.MethodPut, unknown, `{"name": "name two", "topic": "topic two"}`, http.StatusNotFound},
		{http.MethodDelete, unknown, "", http.StatusNotFound},
	} {
		status, _ := apiCall(t, req.method, req.url, req.body, nil)
		is.Equal(status, req.status)
	}

	var updated mainapp.Room
	status, _ = apiCall(t, http.MethodPut, one, `{"name": "name two", "topic": "topic two"}`, &updated)
	is.Equal(status, http.StatusOK)
	expect("rooms.updated", updated) // the next event: the refused requests sent none

	status, _ = apiCall(t, http.MethodDelete, one, "", nil)
	is.Equal(status, http.StatusNoContent)
	expect("rooms.deleted", created.ID)
	status, _ = apiCall(t, http.MethodDelete, one, "", nil)
	is.Equal(status, http.StatusNotFound) // already gone: nothing to tell

	var again mainapp.Room
	status, _ = apiCall(t, http.MethodPost, base, `{"name": "name one", "topic": "topic one"}`, &again)
	is.Equal(status, http.StatusCreated)
	expect("rooms.created", again) // and not a second deleted before it
}

// FuzzRoomsBody posts arbitrary bodies to the create endpoint: every
// answer is 201 or a JSON error body (400, 413 or 422) — never a 500, a
// panic or a half-written record. Run it with
// go test -fuzz FuzzRoomsBody ./apps/main/
func FuzzRoomsBody(f *testing.F) {
	for _, seed := range []string{`{"name": "name one", "topic": "topic one"}`, `{"name": "name two", "topic": "topic two"}`, `{"name": 5, "topic": "topic one"}`, `{"name": "name one", "topic": "topic one", "nope": 1}`, `{}`, `[]`, `{`, `null`, "\x00", `{"id":1}`} {
		f.Add([]byte(seed))
	}
	app := newTestApp(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/rooms", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusCreated:
			var created mainapp.Room
			if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil || created.ID <= 0 {
				t.Fatalf("201 without a stored record for %q: %s", body, rec.Body.Bytes())
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			var e struct {
				Error apiError `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Fields == nil {
				t.Fatalf("%d with a body that is not an error object for %q: %s", rec.Code, body, rec.Body.Bytes())
			}
		default:
			t.Fatalf("POST /api/rooms with %q answered %d: %s", body, rec.Code, rec.Body.Bytes())
		}
	})
}
