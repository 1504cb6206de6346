package prod_test

import "syscall"

// sysProcAttr puts a child in a process group of its own (killed as a
// whole when the test ends) and has the kernel kill it if the test binary
// dies first, e.g. at go test's -timeout, when no t.Cleanup runs.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
