//go:build unix && !linux

package prod_test

import "syscall"

// sysProcAttr puts a child in a process group of its own, killed as a
// whole when the test ends.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
