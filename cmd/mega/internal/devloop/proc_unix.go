//go:build unix

package devloop

import (
	"errors"
	"syscall"
)

// signalGroup sends sig to the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) error {
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // nobody left
	}
	return err
}

// groupAlive reports whether any process is left in the group led by pid.
func groupAlive(pid int) bool {
	return syscall.Kill(-pid, 0) == nil
}
