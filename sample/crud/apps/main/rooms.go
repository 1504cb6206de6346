package mainapp

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	mega "github.com/megaframework/mega/framework"
	"github.com/megaframework/mega/framework/rest"
	"github.com/rs/zerolog"
)

// Room is one row of the table rooms, as the REST API shows it.
type Room struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Topic     string    `json:"topic"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// roomsSchema creates the table rooms when it does not exist yet. It
// runs at every start; change an existing table with a migration of your own.
const roomsSchema = `CREATE TABLE IF NOT EXISTS "rooms" (
	"id" INTEGER PRIMARY KEY AUTOINCREMENT,
	"name" TEXT NOT NULL,
	"topic" TEXT NOT NULL,
	"created_at" TEXT NOT NULL,
	"updated_at" TEXT NOT NULL
)`

// roomsColumns are the columns scanRoom reads, in its order.
const roomsColumns = `"id", "name", "topic", "created_at", "updated_at"`

// mountRooms creates the table rooms if needed and serves its REST API
// on api, the router of /api:
//
//	GET    /api/rooms        200, every room
//	POST   /api/rooms        201, the new room
//	GET    /api/rooms/{id}   200, one room
//	PUT    /api/rooms/{id}   200, the room replaced by the body
//	DELETE /api/rooms/{id}   204
//
// A body that is not a JSON object gets 400, one that fails validation
// 422, an unknown id 404, all in the error shape of package rest.
//
// The API is live: after a change succeeded, every connection of
// /ws/chat, on every instance, gets exactly one frame (see publish):
//
//	rooms.created  {"room": the room as POST answered it}
//	rooms.updated  {"room": the room as PUT answered it}
//	rooms.deleted  {"id": the id DELETE removed}
//
// A refused request sends nothing.
func mountRooms(api chi.Router, app *mega.App, db *sql.DB) error {
	if _, err := db.Exec(roomsSchema); err != nil {
		return fmt.Errorf("create table rooms: %w", err)
	}
	h := roomsAPI{db: db, log: app.Logger(), live: "/ws/chat", broadcast: app.Broadcast}
	api.Route("/rooms", func(r chi.Router) {
		r.Get("/", h.list)
		r.Post("/", h.create)
		r.Get("/{id}", h.get)
		r.Put("/{id}", h.replace)
		r.Delete("/{id}", h.delete)
	})
	return nil
}

// decodeRoom reads the fields a client may set from the request body.
// It answers 400 or 422 itself and returns false when the body is not
// acceptable.
func decodeRoom(w http.ResponseWriter, r *http.Request) (Room, bool) {
	f, ok := rest.Decode(w, r)
	if !ok {
		return Room{}, false
	}
	in := Room{
		Name:  f.String("name"),
		Topic: f.Text("topic"),
	}
	// Clients may send back the read-only id and times: they are ignored.
	return in, f.Check(w, "name", "topic", "id", "createdAt", "updatedAt")
}

// scanRoom reads one row of roomsColumns.
func scanRoom(row interface{ Scan(dest ...any) error }) (Room, error) {
	var item Room
	err := row.Scan(&item.ID, &item.Name, &item.Topic, timeColumn{&item.CreatedAt}, timeColumn{&item.UpdatedAt})
	return item, err
}

// roomsAPI serves the REST API of the table rooms.
type roomsAPI struct {
	db  *sql.DB
	log *zerolog.Logger
	// live is the namespace told of every change, broadcast what sends
	// to it (App.Broadcast).
	live      string
	broadcast func(ns string, b mega.Broadcast) error
}

func (h roomsAPI) list(w http.ResponseWriter, r *http.Request) {
	rows, err := h.db.QueryContext(r.Context(), `SELECT `+roomsColumns+` FROM "rooms" ORDER BY "id"`)
	if err != nil {
		rest.InternalError(w, r, h.log, err)
		return
	}
	defer rows.Close()
	list := []Room{}
	for rows.Next() {
		item, err := scanRoom(rows)
		if err != nil {
			rest.InternalError(w, r, h.log, err)
			return
		}
		list = append(list, item)
	}
	if err := rows.Err(); err != nil {
		rest.InternalError(w, r, h.log, err)
		return
	}
	rest.JSON(w, http.StatusOK, list)
}

func (h roomsAPI) create(w http.ResponseWriter, r *http.Request) {
	in, ok := decodeRoom(w, r)
	if !ok {
		return
	}
	now := formatTime(time.Now())
	item, err := scanRoom(h.db.QueryRowContext(r.Context(),
		`INSERT INTO "rooms" ("name", "topic", "created_at", "updated_at") VALUES (?, ?, ?, ?) RETURNING `+roomsColumns,
		in.Name, in.Topic, now, now))
	if err == nil {
		w.Header().Set("Location", fmt.Sprintf("/api/rooms/%d", item.ID))
		h.publish(r, "rooms.created", map[string]Room{"room": item})
	}
	h.answer(w, r, http.StatusCreated, item, err)
}

func (h roomsAPI) get(w http.ResponseWriter, r *http.Request) {
	id, ok := rest.PathID(r, "id")
	if !ok {
		rest.Missing(w, "room", chi.URLParam(r, "id"))
		return
	}
	item, err := scanRoom(h.db.QueryRowContext(r.Context(),
		`SELECT `+roomsColumns+` FROM "rooms" WHERE "id" = ?`, id))
	h.answer(w, r, http.StatusOK, item, err)
}

func (h roomsAPI) replace(w http.ResponseWriter, r *http.Request) {
	id, ok := rest.PathID(r, "id")
	if !ok {
		rest.Missing(w, "room", chi.URLParam(r, "id"))
		return
	}
	in, ok := decodeRoom(w, r)
	if !ok {
		return
	}
	item, err := scanRoom(h.db.QueryRowContext(r.Context(),
		`UPDATE "rooms" SET "name" = ?, "topic" = ?, "updated_at" = ? WHERE "id" = ? RETURNING `+roomsColumns,
		in.Name, in.Topic, formatTime(time.Now()), id))
	if err == nil {
		h.publish(r, "rooms.updated", map[string]Room{"room": item})
	}
	h.answer(w, r, http.StatusOK, item, err)
}

func (h roomsAPI) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := rest.PathID(r, "id")
	if !ok {
		rest.Missing(w, "room", chi.URLParam(r, "id"))
		return
	}
	res, err := h.db.ExecContext(r.Context(), `DELETE FROM "rooms" WHERE "id" = ?`, id)
	if err != nil {
		rest.InternalError(w, r, h.log, err)
		return
	}
	n, err := res.RowsAffected()
	switch {
	case err != nil:
		rest.InternalError(w, r, h.log, err)
	case n == 0:
		rest.Missing(w, "room", chi.URLParam(r, "id"))
	default:
		h.publish(r, "rooms.deleted", map[string]int64{"id": id})
		w.WriteHeader(http.StatusNoContent)
	}
}

// answer writes item with status: 404 when no row matched, 500 on any
// other error.
func (h roomsAPI) answer(w http.ResponseWriter, r *http.Request, status int, item Room, err error) {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		rest.Missing(w, "room", chi.URLParam(r, "id"))
	case err != nil:
		rest.InternalError(w, r, h.log, err)
	default:
		rest.JSON(w, status, item)
	}
}

// publish broadcasts a change that succeeded to every connection of h.live
// on every instance, before the answer is written: a client holding the
// answer knows the event is on its way. The change is stored whatever
// happens here, so a failure is logged and the answer stays a success.
func (h roomsAPI) publish(r *http.Request, typ string, payload any) {
	if err := h.broadcast(h.live, mega.Broadcast{Type: typ, Payload: payload}); err != nil {
		h.log.Error().Err(err).Str("method", r.Method).Str("path", r.URL.Path).Str("event", typ).Msg("live event not sent")
	}
}
