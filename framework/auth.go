package mega

import (
	"errors"
	"net/http"
	"time"
)

// User is the identity a connection acts as. It comes from the server side
// (an AuthFunc), never from a client's message.
type User struct {
	// ID identifies the user; all sessions of one user share it.
	ID string
	// Attrs holds extra facts the auth hook found, e.g. a display name.
	Attrs map[string]string
	// ExpiresAt is when the credentials the user was proven with run out,
	// e.g. a token's expiry; zero means never. An upgrade whose user has
	// already expired is refused with 401; an open connection is closed
	// with CloseTokenExpired (4001) at that time unless the client renewed
	// them with token.refresh (see WithTokenRefresh).
	ExpiresAt time.Time
}

// AuthFunc resolves the user of a WebSocket request before the upgrade.
// Returning ErrUnauthorized answers 401, ErrForbidden 403, an HTTPError its
// own status; any other error answers 401. Do not log tokens.
type AuthFunc func(r *http.Request) (User, error)

// Errors an AuthFunc returns to refuse a connection.
var (
	// ErrUnauthorized refuses with 401: the request carries no valid identity.
	ErrUnauthorized = errors.New("mega: unauthorized")
	// ErrForbidden refuses with 403: the identity may not use this channel.
	ErrForbidden = errors.New("mega: forbidden")
)

// HTTPError refuses a request with a status code and a message.
type HTTPError struct {
	Status  int
	Message string
}

// Error implements the error interface.
func (e *HTTPError) Error() string { return e.Message }

// Reject returns an HTTPError; an AuthFunc uses it to refuse a request with
// a specific status, e.g. 400 for a malformed name.
func Reject(status int, message string) error { return &HTTPError{Status: status, Message: message} }

// writeAuthError answers a refused upgrade.
func writeAuthError(w http.ResponseWriter, err error) {
	status, msg := http.StatusUnauthorized, "unauthorized"
	var he *HTTPError
	switch {
	case errors.As(err, &he):
		status, msg = he.Status, he.Message
	case errors.Is(err, ErrForbidden):
		status, msg = http.StatusForbidden, "forbidden"
	}
	http.Error(w, msg, status)
}
