package generator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Tidy runs go mod tidy in dir (a new app), printing a progress line to w,
// so that go.mod lists every module the app needs and go.sum their
// checksums. It fetches modules through the Go module proxy unless they
// are in the module cache. A workspace (go.work) is ignored.
func Tidy(ctx context.Context, dir string, w io.Writer) error {
	progress(w, "run", "go mod tidy")
	goBin, err := exec.LookPath("go")
	if err != nil {
		return errors.New("go mod tidy: the go command is not on PATH; install Go, then run go mod tidy in the app")
	}
	cmd := exec.CommandContext(ctx, goBin, "mod", "tidy")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go mod tidy in %s failed: %w\n%s", dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}
