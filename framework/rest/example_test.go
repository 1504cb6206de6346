package rest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/megaframework/mega/framework/rest"
)

// A JSON API under /api: a handler reads its body with Decode and the
// field readers, and every answer, unknown paths and methods included, is
// JSON in one shape.
func Example() {
	api := rest.Router()
	api.Post("/rooms", func(w http.ResponseWriter, r *http.Request) {
		f, ok := rest.Decode(w, r) // 400 or 413 answered
		if !ok {
			return
		}
		name, topic := f.String("name"), f.Text("topic")
		if !f.Check(w, "name", "topic") { // 422 answered, with every problem
			return
		}
		rest.JSON(w, http.StatusCreated, map[string]string{"name": name, "topic": topic})
	})
	root := chi.NewRouter()
	root.Mount("/api", api)

	for _, req := range []struct{ method, path, body string }{
		{"POST", "/api/rooms", `{"name": "kitchen"}`},
		{"POST", "/api/rooms", `{"topic": 7, "colour": "red"}`},
		{"POST", "/api/rooms", `kitchen`},
		{"GET", "/api/rooms", ``},
		{"GET", "/api/nope", ``},
	} {
		w := httptest.NewRecorder()
		root.ServeHTTP(w, httptest.NewRequest(req.method, req.path, strings.NewReader(req.body)))
		body, _ := io.ReadAll(w.Body)
		fmt.Printf("%d %s", w.Code, body)
	}
	// Output:
	// 201 {"name":"kitchen","topic":""}
	// 422 {"error":{"code":"validation_failed","message":"colour is not a known field; name is required; topic must be a string","fields":{"colour":"is not a known field","name":"is required","topic":"must be a string"}}}
	// 400 {"error":{"code":"bad_request","message":"the body must be a JSON object, e.g. {\"name\": \"...\"}","fields":{}}}
	// 405 {"error":{"code":"method_not_allowed","message":"GET is not allowed at /api/rooms","fields":{}}}
	// 404 {"error":{"code":"not_found","message":"nothing at /api/nope","fields":{}}}
}
