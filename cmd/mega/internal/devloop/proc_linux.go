//go:build linux

package devloop

import "syscall"

// procAttr puts a child in its own process group, so that it and its own
// children are signalled as one, and asks the kernel to send it deathSig
// if mega dev dies without stopping it (kill -9).
func procAttr(deathSig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig}
}
