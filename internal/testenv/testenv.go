// Package testenv finds the real servers and programs integration tests
// need (Chromium, later Dovecot). A missing one skips the test on a
// developer's machine and fails it when CI is set: CI must never pass by
// skipping.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Missing skips the test, or fails it under CI, because what is missing.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing; CI requires it (make test installs it)", what)
	}
	t.Skipf("%s is missing (make test installs it)", what)
}

// Chromium returns the path of Debian's chromium (or $CHROMIUM).
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(t, "chromium")
	return ""
}
