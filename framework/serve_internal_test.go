package mega

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"
)

// serveApp serves app over a loopback HTTP server for the package's own
// tests and benchmarks (megatest.Start is for those outside the package);
// the cleanup shuts the app down, bounded by 10 s, then closes the server.
func serveApp(tb testing.TB, app *App) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(app)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = app.Shutdown(ctx)
		srv.Close()
	})
	return srv
}
