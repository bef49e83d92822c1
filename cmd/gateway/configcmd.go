package main

import (
	"fmt"
	"io"
)

// runConfig is `gateway config check FILE`.
func runConfig(args []string, stdout io.Writer) error {
	if len(args) != 2 || args[0] != "check" {
		return usagef("usage: gateway config check FILE")
	}
	if _, err := loadConfig(args[1]); err != nil {
		return usageError{err.Error()}
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[1])
	return nil
}
