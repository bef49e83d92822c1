package gateway_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Limits of the repository's hygiene.
const (
	maxTrackedBytes = 2 << 20 // no tracked file over 2 MB: build outputs and big data do not belong in git
	maxGoLines      = 600     // no non-test Go file over 600 lines: one room, one job
)

// trackedFiles lists the files git tracks.
func trackedFiles(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	return strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
}

// TestRepositoryHygiene fails on a tracked file over maxTrackedBytes, a
// tracked executable build output, and a non-test Go file over maxGoLines.
func TestRepositoryHygiene(t *testing.T) {
	for _, name := range trackedFiles(t) {
		data, err := os.ReadFile(name)
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > maxTrackedBytes {
			t.Errorf("%s is %d bytes, over %d: keep big files and build outputs out of git", name, len(data), maxTrackedBytes)
		}
		if bytes.HasPrefix(data, []byte("\x7fELF")) {
			t.Errorf("%s is an executable: build outputs are not committed", name)
		}
		if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			if n := bytes.Count(data, []byte("\n")); n > maxGoLines {
				t.Errorf("%s has %d lines, over %d: split it by topic (or embed a large table as data)", name, n, maxGoLines)
			}
		}
	}
}
