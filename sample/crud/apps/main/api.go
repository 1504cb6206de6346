package mainapp

import (
	"fmt"
	"time"
)

// This file holds what the REST resources share besides package rest
// (github.com/megaframework/mega/framework/rest: decoding, validation and
// the error shape of every answer): how they store times.

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
