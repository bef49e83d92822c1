package gateway_test

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden lists, for each package of the module, the packages of the
// module it must not depend on (directly or not), as DESIGN.md says.
var forbidden = map[string][]string{
	"card":      {"redact", "secure", "chatforms", "chat", "mail", "voice", "store", "web", "cmd"},
	"redact":    {"secure", "chatforms", "chat", "mail", "voice", "store", "web", "cmd"},
	"secure":    {"web", "chat", "voice", "chatforms", "store", "mail", "cmd"}, // card and redact allowed
	"chatforms": {"web", "cmd"},
	"chat":      {"web", "cmd"},
	"mail":      {"web", "cmd"},
	"voice":     {"web", "chat", "cmd"},
	"store":     {"card", "redact", "secure", "chatforms", "chat", "mail", "voice", "web", "cmd"}, // no domain package
	"web":       {"cmd"},
}

const module = "github.com/secureinput/gateway/"

// TestDependencyDirection fails on any import that DESIGN.md forbids.
func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, ok := strings.CutPrefix(fields[0], module)
		if !ok {
			continue
		}
		top := strings.Split(pkg, "/")[0]
		bad, ok := forbidden[top]
		if !ok {
			continue
		}
		checked++
		for _, dep := range fields[1:] {
			rel, ok := strings.CutPrefix(dep, module)
			if !ok {
				continue
			}
			for _, b := range bad {
				if rel == b || strings.HasPrefix(rel, b+"/") {
					t.Errorf("%s depends on %s, which DESIGN.md forbids", pkg, rel)
				}
			}
		}
	}
	if checked < 2 {
		t.Fatalf("checked %d packages; go list output not understood", checked)
	}
}
