package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// allowed lists, for every package of the module, the packages of the module
// its non-test code may import directly: the dependency rule of
// docs/architecture.md. A package that is not listed fails the test until it
// is, so a new package is placed in the map on purpose.
var allowed = map[string][]string{
	"":                 {}, // the module root holds only these tests
	"card":             {},
	"redact":           {"card"},
	"secure":           {"card", "redact"},
	"chatforms":        {"secure"},
	"chat":             {"redact", "store"},
	"mail":             {"redact", "store"},
	"voice":            {"card", "secure"},
	"store":            {},
	"keys":             {},
	"identity":         {"store"},
	"audit":            {"redact", "store"},
	"alert":            {},
	"vault":            {"audit", "card", "store"},
	"web":              {"audit", "card", "chat", "chatforms", "identity", "secure", "voice", "internal/wsconn"},
	"internal/wsconn":  {},
	"internal/testenv": {"keys", "secure", "store"},
	"cmd/chatload":     {},
	"cmd/gateway":      {"alert", "audit", "card", "chat", "chatforms", "identity", "keys", "mail", "redact", "secure", "store", "vault", "voice", "web"},
}

// testAllowed lists what a package's tests may import beyond allowed: the
// shared test helpers and the real parts they wire up.
var testAllowed = map[string][]string{
	"chat":      {"store", "keys"},
	"chatforms": {"redact"},
	"mail":      {"card", "keys"},
	"web":       {"redact", "store", "keys"},
	"store":     {"keys"},
	"vault":     {"redact", "keys"},
}

const module = "github.com/secureinput/gateway"

// goPackage is what go list -json says of a package, as far as the rule
// needs.
type goPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// rel returns path relative to the module ("" for the root), and whether it
// is in the module.
func rel(path string) (string, bool) {
	if path == module {
		return "", true
	}
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

// violations checks every package against allowed and testAllowed and
// returns one line per broken rule.
func violations(pkgs []goPackage) []string {
	var out []string
	for _, p := range pkgs {
		name, ok := rel(p.ImportPath)
		if !ok {
			continue
		}
		ok2, listed := allowed[name]
		if !listed {
			out = append(out, fmt.Sprintf("package %q is not in deps_test.go's allowed list: add it with the imports docs/architecture.md gives it", name))
			continue
		}
		testOK := append(append(slices.Clone(ok2), testAllowed[name]...), "internal/testenv", name)
		check := func(imports, may []string, what string) {
			for _, imp := range imports {
				dep, in := rel(imp)
				if in && !slices.Contains(may, dep) {
					out = append(out, fmt.Sprintf("%s %q imports %q, which the dependency rule does not allow", what, name, dep))
				}
			}
		}
		check(p.Imports, ok2, "package")
		check(p.TestImports, testOK, "tests of")
		check(p.XTestImports, testOK, "tests of")
	}
	return out
}

// TestDependencyDirection fails on any import the allow-list does not name.
func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < len(allowed)-2 {
		t.Fatalf("go list gave %d packages, want at least %d; output not understood", len(pkgs), len(allowed)-2)
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestDependencyRuleCatches shows that the rule fails on a forbidden import,
// a forbidden test import and an unlisted package.
func TestDependencyRuleCatches(t *testing.T) {
	tests := []struct {
		name string
		pkg  goPackage
		want string
	}{
		{"store imports chat", goPackage{ImportPath: module + "/store", Imports: []string{"context", module + "/chat"}},
			`package "store" imports "chat"`},
		{"card imports redact", goPackage{ImportPath: module + "/card", Imports: []string{module + "/redact"}},
			`package "card" imports "redact"`},
		{"voice test imports web", goPackage{ImportPath: module + "/voice", XTestImports: []string{module + "/web"}},
			`tests of "voice" imports "web"`},
		{"new package", goPackage{ImportPath: module + "/billing"}, `package "billing" is not in`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := violations([]goPackage{tc.pkg})
			if len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Errorf("violations = %q, want one containing %q", got, tc.want)
			}
		})
	}
	ok := goPackage{ImportPath: module + "/web", Imports: []string{module + "/chat", "net/http"}, TestImports: []string{module + "/internal/testenv"}}
	if got := violations([]goPackage{ok}); len(got) != 0 {
		t.Errorf("allowed imports reported: %q", got)
	}
}

// TestArchitectureDocListsTheRule: docs/architecture.md's table gives each
// package exactly the imports the allow-list gives it.
func TestArchitectureDocListsTheRule(t *testing.T) {
	doc, err := os.ReadFile("docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## The dependency rule")
	if !ok {
		t.Fatal(`docs/architecture.md has no "## The dependency rule" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]string{} // package → its "may import" cell
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if _, ok := allowed[name]; ok && strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			if _, seen := rows[name]; !seen {
				rows[name] = cells[2]
			}
		}
	}
	for name, want := range allowed {
		if name == "" || name == "cmd/gateway" {
			continue
		}
		cell, ok := rows[name]
		if !ok {
			t.Errorf("docs/architecture.md has no row for %q", name)
			continue
		}
		var got []string
		for other := range allowed {
			if other != "" && other != name && strings.Contains(cell, "`"+other+"`") {
				got = append(got, other)
			}
		}
		slices.Sort(got)
		w := slices.Sorted(slices.Values(want))
		if !slices.Equal(got, w) {
			t.Errorf("docs/architecture.md says %q may import %v; deps_test.go allows %v", name, got, w)
		}
	}
}
