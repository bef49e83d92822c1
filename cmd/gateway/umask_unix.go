//go:build unix

package main

import "syscall"

// privateUmask makes every file the process creates its owner's only (0600,
// directories 0700), whatever mode the code asks for: SQLite's WAL and
// shared-memory files, a backup, a key file.
func privateUmask() { syscall.Umask(0o077) }
