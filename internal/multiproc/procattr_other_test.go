//go:build !linux

package multiproc

import "syscall"

// procAttr is empty where the kernel cannot be asked to kill a child with
// its parent: a crashed test run may leave its processes behind there.
func procAttr() *syscall.SysProcAttr { return nil }
