package mainapp

import (
	"net/http"
	"regexp"

	mega "github.com/megaframework/mega/framework"
)

// namePattern is what a user name may be: 1 to 32 of A-Z a-z 0-9 _ -.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// nameAuth resolves the user of a WebSocket request from its ?name=
// parameter: the user id is the name, so two tabs with one name are one
// user with two sessions. A missing or malformed name is refused with 400
// before the upgrade.
//
// This is an identity, not authentication: anyone can claim any name.
// Check a session cookie or a token here before going to production.
func nameAuth(r *http.Request) (mega.User, error) {
	name := r.URL.Query().Get("name")
	if !namePattern.MatchString(name) {
		return mega.User{}, mega.Reject(http.StatusBadRequest, "name must be 1 to 32 characters of A-Z a-z 0-9 _ -")
	}
	return mega.User{ID: name}, nil
}
