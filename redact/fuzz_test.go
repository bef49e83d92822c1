package redact

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

func addSeeds(f *testing.F) {
	for _, s := range []string{
		"card 4111 1111 1111 1111 exp 12/29",
		"４１１１ １１１１ １１１１ １１１１",
		"4111-1111-1111-1111 123",
		"ssn 123-45-6789, phone +1 415 555 2671",
		"IBAN DE89 3704 0044 0532 0130 00",
		"3782 822463 10005 and 6011111111111117",
		"\xff\xfe4111111111111111\x80",
		"41111111111111111234",
		"a\u00a04111\u00a01111\u00a01111\u00a01111",
	} {
		f.Add(s)
	}
	for _, rec := range readCorpus(f)[:20] {
		f.Add(rec.text)
	}
}

// FuzzRedact checks the properties every redaction must have: the output
// holds nothing the card detector would still flag (redaction is complete),
// redacting twice equals redacting once, and the number of characters is
// kept (every character of a match becomes one '#').
func FuzzRedact(f *testing.F) {
	addSeeds(f)
	e := mustNew(f, DefaultConfig())
	f.Fuzz(func(t *testing.T, s string) {
		in := []byte(s)
		out, spans, err := e.AppendRedact(nil, in, nil)
		if err != nil {
			t.Fatalf("AppendRedact: %v", err)
		}
		if again, _, _ := e.AppendRedact(nil, out, nil); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n in %q\nonce %q\ntwice %q", s, out, again)
		}
		if got := findCards(out, nil); len(got) != 0 {
			t.Fatalf("output %q still holds a card at %v", out, got)
		}
		if utf8.Valid(in) && utf8.RuneCount(out) != utf8.RuneCount(in) {
			t.Fatalf("rune count %d -> %d: %q -> %q", utf8.RuneCount(in), utf8.RuneCount(out), s, out)
		}
		prev := 0
		for _, sp := range spans {
			if sp.Start < prev || sp.End <= sp.Start || sp.End > len(in) {
				t.Fatalf("bad span %+v (previous end %d, len %d)", sp, prev, len(in))
			}
			prev = sp.End
		}
	})
}

// diffExpressions are the expressions FuzzExpressionWindows compares; they
// cover lookarounds both ways, word boundaries, anchors, backreferences,
// case folding, negated classes, alternation and lazy quantifiers.
var diffExpressions = []string{
	ssnSearch,
	`^(?!000)([0-6]\d{2}|7([0-6]\d|7[012]))([-]?)(?!00)\d\d\3(?!0000)\d{4}$`,
	`\b\d{3}-\d{2}-\d{4}\b`,
	`(?i)acct[ #:]*\d{4,10}`,
	`(?<=pin[: ]*)\d{4}`,
	`\d+(?=\s*EUR)`,
	`(\d)\1{2,}`,
	`^\d+|\d+$`,
	`(?m)^\w{2,}:`,
	`[^\s,]{3,5}x`,
	`a.c|b\Bc`,
	`(?i)k{2}`,
	`\d{2,}?`,
	`(?<!\w)[A-Z]{2}\d{2}(?: ?\d{4}){2,7}(?!\w)`,
	`x*`,
	`\d{3}(?=\d{5})x|a\d`,
	`[٠-٩0-9]{4,}`,
}

// FuzzExpressionWindows is the differential test of the expression
// windowing: for each expression, the spans the engine finds running
// regexp2 only on windows must equal the non-empty matches of regexp2 over
// the whole text.
func FuzzExpressionWindows(f *testing.F) {
	addSeeds(f)
	f.Add("pin: 1234 and 5555 EUR\nID: 99\nKk kk")
	f.Add("acct #1234567 ACCT:99999 111 2222 DE89 3704 0044 0532 0130 00")
	f.Add("abc xxbc 000-12-3456 772-12-3456 123456789\n")
	type pair struct {
		engine *Engine
		whole  *regexp2.Regexp
	}
	var pairs []pair
	for _, src := range diffExpressions {
		pairs = append(pairs, pair{
			engine: mustNew(f, Config{Additional: []string{src}, Timeout: 2 * time.Second}),
			whole:  regexp2.MustCompile(src, regexp2.None),
		})
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			return
		}
		for i, p := range pairs {
			got, err := p.engine.Find([]byte(s), nil)
			if errors.Is(err, ErrTimeout) {
				// Backtracking can be quadratic (\d+(?=\s*EUR) on thousands
				// of digits): the engine stops and fails closed, as designed;
				// there is nothing to compare.
				continue
			}
			if err != nil {
				t.Fatalf("expression %q: %v", diffExpressions[i], err)
			}
			want := wholeTextSpans(t, p.whole, s)
			if !sameSpans(got, want) {
				t.Fatalf("expression %q on %q:\nwindowed %v\n   whole %v", diffExpressions[i], s, got, want)
			}
		}
	})
}

// wholeTextSpans returns regexp2's non-empty matches over all of s, as byte
// offsets.
func wholeTextSpans(t *testing.T, re *regexp2.Regexp, s string) []Span {
	runes := []rune(s)
	offsets := make([]int, 0, len(runes)+1)
	for i := range s {
		offsets = append(offsets, i)
	}
	offsets = append(offsets, len(s))
	// []rune(s) turns each invalid byte into one U+FFFD, as range does.
	if len(offsets) != len(runes)+1 {
		t.Fatalf("offsets %d for %d runes", len(offsets), len(runes))
	}
	var out []Span
	m, err := re.FindRunesMatch(runes)
	for err == nil && m != nil {
		if m.Length > 0 {
			out = append(out, Span{Start: offsets[m.Index], End: offsets[m.Index+m.Length]})
		}
		m, err = re.FindNextMatch(m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSpans(a, b []Span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Start != b[i].Start || a[i].End != b[i].End {
			return false
		}
	}
	return true
}

// TestExpressionWindowsCorpus runs the differential over the corpus and a
// few hand-picked edge cases, so a plain `go test` covers it too.
func TestExpressionWindowsCorpus(t *testing.T) {
	texts := []string{
		"", "1", "123-45-6789", "x123-45-6789x", "123-45-6789\n", "a\n123-45-6789",
		"pin:1234 pin 5678", "10 EUR 20EUR", "KK kk \u212a\u212a", "1111 222 33",
	}
	for _, rec := range readCorpus(t) {
		texts = append(texts, rec.text)
	}
	for _, src := range diffExpressions {
		e := mustNew(t, Config{Additional: []string{src}})
		whole := regexp2.MustCompile(src, regexp2.None)
		for _, s := range texts {
			got, err := e.Find([]byte(s), nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := wholeTextSpans(t, whole, s); !sameSpans(got, want) {
				t.Fatalf("expression %q on %q:\nwindowed %v\n   whole %v", src, s, got, want)
			}
		}
	}
}

// TestExpressionAnalysis pins the analysis that makes windowing fast: the
// SSN expression is windowed, has a minimum length of 9 and an alphabet of
// digits and '-'.
func TestExpressionAnalysis(t *testing.T) {
	x, err := compileExpression(1, ssnSearch, DefaultTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var alpha strings.Builder
	for c := 0; c < utf8.RuneSelf; c++ {
		if x.ascii[c] {
			alpha.WriteByte(byte(c))
		}
	}
	if !x.windowed || x.minLen != 9 || x.minDigits != 9 || alpha.String() != "-0123456789" {
		t.Errorf("SSN: windowed %v, minLen %d, minDigits %d, alphabet %q; want true, 9, 9, \"-0123456789\"",
			x.windowed, x.minLen, x.minDigits, alpha.String())
	}
	for src, want := range map[string]int{`\d{3}(?=\d{5})x`: 3, `a\d|\d\d`: 1, `[0-9a]{4}`: 0, `12\d`: 3, `(?!\d{4})\d`: 1} {
		x, err := compileExpression(1, src, DefaultTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if x.minDigits != want {
			t.Errorf("%q: minDigits %d, want %d", src, x.minDigits, want)
		}
	}
	for src, wantWindowed := range map[string]bool{`\G\d+`: false, `(?(\d)\d{3}|x)`: true, `(?<=a)b`: true} {
		x, err := compileExpression(1, src, DefaultTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if x.windowed != wantWindowed {
			t.Errorf("%q windowed = %v, want %v", src, x.windowed, wantWindowed)
		}
	}
}
