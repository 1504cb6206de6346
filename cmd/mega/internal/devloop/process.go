//go:build unix

package devloop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// process is one running app instance: the leader of its own process group.
type process struct {
	pid     int
	started time.Time
	done    chan struct{} // closed once the leader is reaped, its group killed and its output drained
	err     error         // how it ended (Wait's error), valid once done is closed
}

// outputDrain bounds how long the output of a dead process group is read:
// a process that escaped the group could hold the pipe open forever.
const outputDrain = 2 * time.Second

// startProcess runs bin with args in dir with env, in a new process group,
// copying its stdout and stderr to out.
func startProcess(bin string, args []string, dir string, env []string, out io.Writer) (*process, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	// An *os.File, not a writer: Wait then returns when the process exits
	// instead of waiting for every holder of the pipe.
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.SysProcAttr = procAttr(syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close()
	p := &process{pid: cmd.Process.Pid, started: time.Now(), done: make(chan struct{})}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, pr)
	}()
	go func() {
		defer close(p.done)
		p.err = cmd.Wait()
		// Whatever the app left in its group is an orphan now.
		_ = signalGroup(p.pid, syscall.SIGKILL)
		select {
		case <-copied:
		case <-time.After(outputDrain):
		}
		pr.Close()
		<-copied
		if c, ok := out.(io.Closer); ok {
			_ = c.Close()
		}
	}()
	return p, nil
}

// exited reports whether the process has ended and been reaped.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process group: SIGTERM, up to grace for the leader to exit,
// then SIGKILL. It returns once the leader is reaped and nothing is left in
// the group, and reports whether SIGKILL was needed.
func (p *process) stop(grace time.Duration) (killed bool) {
	if !p.exited() {
		_ = signalGroup(p.pid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case <-p.done:
		case <-t.C:
			killed = true
			_ = signalGroup(p.pid, syscall.SIGKILL)
			<-p.done
		}
		t.Stop()
	}
	return killed
}

// exitStatus describes how a process ended, e.g. "exit status 2".
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	return err.Error()
}

// errPortBusy means a port stayed in use after its instance stopped.
var errPortBusy = errors.New("port still in use")

// waitPortFree waits until port can be listened on again (on all
// interfaces, as apps do with ":PORT"), at most timeout.
func waitPortFree(ctx context.Context, port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
		if err == nil {
			return ln.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d: %v", errPortBusy, port, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
