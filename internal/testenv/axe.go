package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// axePath is where `make deps` installs axe-core (npm, a pinned version),
// relative to the module root.
const axePath = ".cache/npm/node_modules/axe-core/axe.min.js"

// AxeCore returns the source of axe-core, the accessibility engine the
// browser tests run in their pages: the file $AXE_CORE names, else the one
// `make deps` installed under the module root. Missing, it skips the test
// (fails it under CI).
func AxeCore(t testing.TB) string {
	t.Helper()
	candidates := []string{os.Getenv("AXE_CORE")}
	if dir, err := os.Getwd(); err == nil {
		for ; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				candidates = append(candidates, filepath.Join(dir, axePath))
				break
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
			return string(b)
		}
	}
	Missing(t, "axe-core (npm; make deps installs it under .cache/npm)")
	return ""
}
