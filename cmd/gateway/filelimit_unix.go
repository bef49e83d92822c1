//go:build unix

package main

import "syscall"

// openFileLimit returns the soft limit on open files (the Go runtime raises
// it to the hard limit at start-up), or 0 if it cannot be read.
func openFileLimit() uint64 {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil || l.Cur == ^uint64(0) { // ^0: unlimited
		return 0
	}
	return l.Cur
}
