package main

import (
	"errors"
	"fmt"
	"io"
)

// errBadConfig: the configuration has errors, each already printed; the
// command exits with exitUsage.
var errBadConfig = errors.New("bad configuration")

// runConfig is `gateway config check FILE`. A good file prints "FILE: ok".
// Otherwise every error of the file is printed in the same run, on stderr,
// one a line as FILE:LINE: message (sorted by line; the line of the key or
// value at fault, its path in the file as in agents[1].password_hash, and
// the fix when there is an obvious one), and the exit status is exitUsage.
// Only a YAML syntax error stops the reading at its line: nothing else can
// be checked then. A good file's warnings (valid but risky settings, a
// key-encryption key beside the data) go to stderr, and the status stays 0.
func runConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "check" {
		return usagef("usage: gateway config check FILE")
	}
	cfg, err := loadConfig(args[1])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errBadConfig
	}
	for _, w := range keyWarnings(cfg) {
		fmt.Fprintf(stderr, "%s: %s\n", args[1], w)
	}
	for _, w := range cfg.warnings {
		fmt.Fprintln(stderr, w)
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[1])
	return nil
}
