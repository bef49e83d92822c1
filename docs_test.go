package gateway_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// readmeMaxLines keeps the README a front page; the reference lives in docs/.
const readmeMaxLines = 250

// outsideMap is the name of the team's old design map, which lives outside
// the repository; docs/architecture.md replaced it. Spelled in two parts so
// that this file does not mention it.
var outsideMap = "DESIGN" + ".md"

// docFiles returns README.md and every Markdown file under docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	docs, err := filepath.Glob(filepath.Join("docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("no docs/*.md found; run the test from the repository root")
	}
	return append(files, docs...)
}

var (
	fence      = regexp.MustCompile("(?ms)^ {0,3}(```|~~~).*?^ {0,3}(```|~~~)[^\n]*$")
	inlineCode = regexp.MustCompile("`+[^`\n]*`+")
	// [text](target "title") and ![alt](target); the text may hold code
	// spans, already blanked.
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)
	// [label]: target
	refLink = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)`)
	heading = regexp.MustCompile(`(?m)^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$`)
	// an inline link or image in a heading keeps only its text
	headingLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// withoutCode blanks fenced blocks and code spans, keeping line breaks, so
// that links and headings inside code are not taken for real ones.
func withoutCode(md string) string {
	blank := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '\n' {
				return r
			}
			return ' '
		}, s)
	}
	md = fence.ReplaceAllStringFunc(md, blank)
	return inlineCode.ReplaceAllStringFunc(md, blank)
}

// links returns the link targets of a Markdown text.
func links(md string) []string {
	md = withoutCode(md)
	var out []string
	for _, m := range inlineLink.FindAllStringSubmatch(md, -1) {
		out = append(out, m[1])
	}
	for _, m := range refLink.FindAllStringSubmatch(md, -1) {
		out = append(out, m[1])
	}
	return out
}

// slug is GitHub's anchor for a heading: the rendered text in lower case,
// with every character but letters, digits, '-', '_' and spaces dropped,
// and spaces turned into '-'.
func slug(text string) string {
	text = headingLink.ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the anchors of a Markdown text's headings, numbered as
// GitHub numbers repeated ones (x, x-1, x-2).
func anchors(md string) map[string]bool {
	// Code spans in headings are part of the text: blank only the fences.
	md = fence.ReplaceAllStringFunc(md, func(s string) string { return strings.Repeat("\n", strings.Count(s, "\n")) })
	seen := map[string]int{}
	out := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(md, -1) {
		s := slug(m[2])
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// TestDocLinksResolve checks that every relative link of README.md and
// docs/*.md names a file or directory of the repository and, with a
// #anchor, a heading of that Markdown file.
func TestDocLinksResolve(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, file := range docFiles(t) {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range links(string(src)) {
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			path, anchor, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
			}
			abs, err := filepath.Abs(dest)
			if err != nil {
				t.Fatal(err)
			}
			if rel, err := filepath.Rel(root, abs); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.Errorf("%s: link %q leaves the repository", file, target)
				continue
			}
			info, err := os.Stat(dest)
			if err != nil {
				t.Errorf("%s: link %q: no such file %s", file, target, filepath.ToSlash(dest))
				continue
			}
			if anchor == "" {
				continue
			}
			if info.IsDir() || !strings.HasSuffix(dest, ".md") {
				t.Errorf("%s: link %q: an anchor needs a Markdown file", file, target)
				continue
			}
			md, err := os.ReadFile(dest)
			if err != nil {
				t.Fatal(err)
			}
			if !anchors(string(md))[anchor] {
				t.Errorf("%s: link %q: %s has no heading with the anchor #%s", file, target, filepath.ToSlash(dest), anchor)
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no relative link at all; the link parser is broken")
	}
}

// TestDocsDoNotMentionOutsideMap fails on any mention of the old design map
// that lives outside the repository, in the docs and in any source,
// configuration or Markdown file of the repository.
func TestDocsDoNotMentionOutsideMap(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "data", "testdata", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".md", ".yaml", ".yml", ".sql", ".js", ".html", ".css", ".py":
		default:
			if d.Name() != "Makefile" {
				return nil
			}
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if strings.Contains(line, outsideMap) {
				t.Errorf("%s:%d mentions %s, which is not in the repository; point at docs/architecture.md", filepath.ToSlash(path), i+1, outsideMap)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReadmeIsAFrontPage keeps the README short.
func TestReadmeIsAFrontPage(t *testing.T) {
	src, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(src), "\n"); n > readmeMaxLines {
		t.Errorf("README.md has %d lines, want at most %d: move reference material into docs/", n, readmeMaxLines)
	}
}

// TestDocLinkHelpers checks the parsing the link test relies on.
func TestDocLinkHelpers(t *testing.T) {
	for _, tc := range []struct{ heading, slug string }{
		{"Secure Input Gateway", "secure-input-gateway"},
		{"`gateway redact`", "gateway-redact"},
		{"JSON Lines (`--jsonl`)", "json-lines---jsonl"},
		{"Voice: secure IVR sessions", "voice-secure-ivr-sessions"},
		{"Package `voice`", "package-voice"},
		{"The dependency rule", "the-dependency-rule"},
		{"max_sessions and [a link](x.md)", "max_sessions-and-a-link"},
	} {
		if got := slug(tc.heading); got != tc.slug {
			t.Errorf("slug(%q) = %q, want %q", tc.heading, got, tc.slug)
		}
	}
	md := "# A\n\n## A\n\n```\n# not a heading [x](nowhere.md)\n```\n\nsee [b](b.md#c) and `[d](code.md)`\n\n[r]: ref.md\n"
	got := anchors(md)
	if !got["a"] || !got["a-1"] || got["not-a-heading"] {
		t.Errorf("anchors = %v, want a and a-1 only", got)
	}
	if l := links(md); strings.Join(l, " ") != "b.md#c ref.md" {
		t.Errorf("links = %q, want [b.md#c ref.md]", l)
	}
}
