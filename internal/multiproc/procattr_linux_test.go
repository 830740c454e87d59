package multiproc

import "syscall"

// procAttr has the kernel kill a process the test started when the test
// process dies, so that a test binary that panics or times out leaves no
// job board running against a database that is about to be dropped.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
