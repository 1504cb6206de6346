//go:build unix && !linux

package devloop

import "syscall"

// procAttr puts a child in its own process group, so that it and its own
// children are signalled as one.
func procAttr(syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
