//go:build unix

package devloop

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// buildResult is the outcome of one build.
type buildResult struct {
	ok       bool
	output   string // the compiler's output, as printed by go build
	took     time.Duration
	canceled bool // a newer change (or the end of mega dev) stopped it
}

// goBuild runs `go build -o out .` in dir. Cancelling ctx kills the go
// command with its compiler and linker processes.
func goBuild(ctx context.Context, dir, out string, env []string) buildResult {
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = env
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	cmd.SysProcAttr = procAttr(syscall.SIGKILL)
	cmd.Cancel = func() error { return signalGroup(cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		_ = signalGroup(cmd.Process.Pid, syscall.SIGKILL) // nothing of a build outlives it
	}
	res := buildResult{ok: err == nil, output: buf.String(), took: time.Since(start)}
	if err != nil && ctx.Err() != nil {
		res.canceled = true
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) && !res.canceled {
		res.output += err.Error() + "\n" // the go command did not run
	}
	return res
}
