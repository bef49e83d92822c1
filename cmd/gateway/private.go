package main

import (
	"fmt"
	"os"
)

// privateDir makes dir (and its parents) if missing, and its owner's only
// (0700), as every directory the gateway creates.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}
