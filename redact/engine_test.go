package redact

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/secureinput/gateway/card"
)

// ssnSearch is the US SSN expression of the PureConnect documentation
// (^(?!000)([0-6]\d{2}|7([0-6]\d|7[012]))([-]?)(?!00)\d\d\3(?!0000)\d{4}$)
// adapted to search inside text: the anchors become digit boundaries.
const ssnSearch = `(?<!\d)(?!000)([0-6]\d{2}|7([0-6]\d|7[012]))([-]?)(?!00)\d\d\3(?!0000)\d{4}(?!\d)`

func mustNew(tb testing.TB, cfg Config) *Engine {
	tb.Helper()
	e, err := New(cfg)
	if err != nil {
		tb.Fatalf("New(%+v): %v", cfg, err)
	}
	return e
}

// luhnComplete pads prefix to n digits and appends the check digit.
func luhnComplete(prefix string, n int) string {
	body := prefix
	for i := 0; len(body) < n-1; i++ {
		body += string(rune('0' + (i*3+1)%10))
	}
	for d := '0'; d <= '9'; d++ {
		if card.Luhn(body + string(d)) {
			return body + string(d)
		}
	}
	panic("unreachable")
}

// writeGrouped writes digits in the given group sizes joined by sep.
func writeGrouped(digits string, sizes []int, sep string) string {
	var parts []string
	for _, n := range sizes {
		if n >= len(digits) {
			break
		}
		parts = append(parts, digits[:n])
		digits = digits[n:]
	}
	parts = append(parts, digits)
	return strings.Join(parts, sep)
}

func fullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if '0' <= r && r <= '9' {
			return '０' + (r - '0')
		}
		return r
	}, s)
}

// TestEveryBrandLengthSeparator plants a number of every brand and length
// in a sentence, written with every separator style, and expects exactly
// the number masked.
func TestEveryBrandLengthSeparator(t *testing.T) {
	e := mustNew(t, DefaultConfig())
	seps := map[string]string{
		"none": "", "space": " ", "dash": "-", "dot": ".", "nbsp": "\u00a0", "narrow-nbsp": "\u202f",
		"thin-space": "\u2009", "en-dash": "\u2013", "spaced-dash": " - ", "double-space": "  ",
		"zero-width": "\u200b", "ideographic": "\u3000", "fullwidth-hyphen": "－",
	}
	for _, b := range card.Brands {
		for _, n := range b.Lengths {
			num := luhnComplete(b.Ranges[0].From, n)
			for sepName, sep := range seps {
				for _, sizes := range [][]int{{4, 4, 4, 4}, b.Grouping} {
					for _, fw := range []bool{false, true} {
						written := writeGrouped(num, sizes, sep)
						if fw {
							written = fullWidth(written)
						}
						name := fmt.Sprintf("%s/%d/%s/%v/fw=%v", b.ID, n, sepName, sizes, fw)
						text := "Hi, my card is " + written + ", expiry 09/29. Thanks!"
						r, err := e.Redact(text)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						want := "Hi, my card is " + strings.Repeat("#", utf8.RuneCountInString(written)) + ", expiry 09/29. Thanks!"
						if r.Text != want {
							t.Errorf("%s:\n got %q\nwant %q", name, r.Text, want)
						}
					}
				}
			}
		}
	}
}

func TestPositives(t *testing.T) {
	e := mustNew(t, DefaultConfig())
	tests := []struct{ name, in, want string }{
		{"visa plain", "4111111111111111", "################"},
		{"at start and end", "4111 1111 1111 1111", "###################"},
		{"e164 has at most 15 digits", "+4111111111111111", "+################"},
		{"single digits", "scores 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "scores ###############################"},
		{"list number before", "1. 4111 1111 1111 1111", "1. ###################"},
		{"two cards back to back", "4111 1111 1111 1111 5555 5555 5555 4444", "################### ###################"},
		{"two cards with and", "4111111111111111 and 5555555555554444", "################ and ################"},
		{"glued to letters", "card:4111111111111111!", "card:################!"},
		{"in parentheses", "(4111-1111-1111-1111)", "(###################)"},
		{"amex 4-6-5", "Amex 3782 822463 10005 exp 1/27", "Amex ################# exp 1/27"},
		{"diners 4-6-4", "3056 930902 5904", "################"},
		{"visa 19", "4111 1111 1111 1111 003", "#######################"},
		{"visa 13 4-4-4-1", "4222 2222 2222 2", "################"},
		{"maestro 12", "5000 0000 0009", "##############"},
		{"arabic-indic digits", "٤١١١١١١١١١١١١١١١", "################"},
		{"devanagari digits", "४१११ ११११ ११११ ११११", "###################"},
		{"mixed scripts", "4111 １１１１ 1111 1111", "###################"},
		{"newline after", "card\n4111111111111111\nthanks", "card\n################\nthanks"},
		{"tab before", "card:\t4111111111111111", "card:\t################"},
		{"soft hyphen inside", "4111\u00ad1111\u00ad1111\u00ad1111", "###################"},
		{"spaces per digit pair last single", "4111 1111 1111 1111.", "###################."},
		{"mastercard 2-series", "2223 0031 2200 3222", "###################"},
		{"ssn after plain card", "4111111111111111 123-45-6789", "################ 123-45-6789"},
		{"ssn after dashed card", "4111-1111-1111-1111 123-45-6789", "################### 123-45-6789"},
		{"date after card", "4111 1111 1111 1111 2024-11-24", "################### 2024-11-24"},
		{"unionpay 19", "6205 5000 0000 0000 004", "#######################"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.Redact(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.Text != tc.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, r.Text, tc.want)
			}
			for _, s := range r.Spans {
				if s.Kind != KindCard {
					t.Errorf("span %+v: kind %q, want %q", s, s.Kind, KindCard)
				}
			}
		})
	}
}

func TestNegatives(t *testing.T) {
	e := mustNew(t, DefaultConfig())
	tests := []struct{ name, in string }{
		{"luhn invalid", "4111 1111 1111 1112"},
		{"luhn invalid plain", "5555555555554445"},
		{"20 digits holding a valid card", "41111111111111111234"},
		{"21 digits holding a valid card", "041111111111111111000"},
		{"22 digits grouped holding a card", "4111 1111 1111 1111 0000 00"},
		{"20 digits grouped holding a card", "4111 1111 1111 1111 0000"},
		{"card inside a dashed reference", "REF-0000-4111-1111-1111-1111"},
		{"valid card inside 30 digits", "123456789041111111111111111789"},
		{"unknown brand luhn valid", "7000 0000 0000 0000 006"},
		{"unknown brand 16", "9000000000000008"},
		{"mastercard with 15 digits", "5555 555555 55558"},
		{"amex with 16 digits", "3782822463100052"},
		{"us phone", "Call me at (555) 123-4567 or 1-800-555-0199"},
		{"intl phone plus", "+44 20 7946 0958 or +1 378282246310"},
		{"intl phone digits", "+1 415 555 2671 / +86 138 0013 8000"},
		{"dates", "On 2024-11-24 at 10:30, or 24.11.2024, or 11/24/2024"},
		{"date time dotted", "2024.11.24 12.30.45"},
		{"amounts", "Total: $1,234,567.89 and €12 345,67 and 4 111 111,11"},
		{"amount with nbsp", "1\u00a0234\u00a0567\u00a0890\u00a0123 EUR"},
		{"ipv4", "Server at 192.168.100.200 and 10.0.0.1 and 172.16.254.101"},
		{"isbn13", "ISBN 978-3-16-148410-0 and 9780306406157"},
		{"isbn10", "ISBN 0-306-40615-2"},
		{"ups tracking", "UPS 1Z999AA10123456784 and 1Z 999 AA1 01 2345 6784"},
		{"usps tracking grouped", "USPS 9400 1000 0000 0000 0000 00 arrived"},
		{"usps tracking 22", "9400111899223397623910"},
		{"fedex tracking", "FedEx 7489 2034 7511 and 123456789012"},
		{"ssn shaped", "SSN 123-45-6789 and 123456789"},
		{"order number", "Order #100045678 shipped, ref 2024-00012345"},
		{"iban", "IBAN DE89 3704 0044 0532 0130 00"},
		{"imei", "IMEI 35-209900-176148-1"},
		{"version", "v4.1.1.1111.1111.1111"},
		{"timestamp ms", "ts=1732456789012 id=17324567890123456"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.Redact(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.Text != tc.in || len(r.Spans) != 0 {
				t.Errorf("Redact(%q) = %q, spans %v; want it untouched", tc.in, r.Text, r.Spans)
			}
		})
	}
}

func TestSpansAreByteOffsets(t *testing.T) {
	e := mustNew(t, DefaultConfig())
	in := "é ４１１１１１１１１１１１１１１１ x 4111111111111111"
	r, err := e.Redact(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Spans) != 2 {
		t.Fatalf("spans = %v, want 2", r.Spans)
	}
	if got := in[r.Spans[0].Start:r.Spans[0].End]; got != "４１１１１１１１１１１１１１１１" {
		t.Errorf("first span covers %q", got)
	}
	if got := in[r.Spans[1].Start:r.Spans[1].End]; got != "4111111111111111" {
		t.Errorf("second span covers %q", got)
	}
	if utf8.RuneCountInString(r.Text) != utf8.RuneCountInString(in) {
		t.Errorf("rune count changed: %q", r.Text)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantSub []string
	}{
		{"unbalanced", Config{Default: true, Additional: []string{`\d+`, `(ab`}}, []string{"expression 2", `"(ab"`, "missing closing )"}},
		{"bad class", Config{Additional: []string{`[z-a]`}}, []string{"expression 1", `[z-a]`, "range"}},
		{"empty", Config{Additional: []string{``}}, []string{"expression 1 is empty"}},
		{"nothing enabled", Config{}, []string{"no detector"}},
		{"negative timeout", Config{Default: true, Timeout: -time.Second}, []string{"Timeout", "negative"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil {
				t.Fatalf("New(%+v) succeeded, want an error", tc.cfg)
			}
			for _, sub := range tc.wantSub {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("error %q does not mention %q", err, sub)
				}
			}
		})
	}
}

func TestAdditionalExpressions(t *testing.T) {
	e := mustNew(t, Config{Default: true, Additional: []string{ssnSearch, `(?i)\bacct[ #:]*\d{6,10}\b`}})
	tests := []struct{ in, want string }{
		{"my ssn is 123-45-6789.", "my ssn is ###########."},
		{"ssn 123456789 ok", "ssn ######### ok"},
		{"not an ssn 000-12-3456 nor 123-00-4567 nor 123-45-0000", "not an ssn 000-12-3456 nor 123-00-4567 nor 123-45-0000"},
		{"mixed dashes 123-456789 stay", "mixed dashes 123-456789 stay"},
		{"too long 1234567890", "too long 1234567890"},
		{"ACCT# 12345678 and card 4111 1111 1111 1111", "############## and card ###################"},
		{"first 772-12-3456 then 779-12-3456", "first ########### then 779-12-3456"},
	}
	for _, tc := range tests {
		r, err := e.Redact(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if r.Text != tc.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, r.Text, tc.want)
		}
	}
	r, _ := e.Redact("ssn 123-45-6789, acct 1234567")
	kinds := []string{}
	for _, s := range r.Spans {
		kinds = append(kinds, s.Kind)
	}
	if strings.Join(kinds, ",") != "expr:1,expr:2" {
		t.Errorf("kinds = %v, want expr:1,expr:2", kinds)
	}
}

func TestNoDefault(t *testing.T) {
	e := mustNew(t, Config{Additional: []string{`secret\d`}})
	r, err := e.Redact("4111111111111111 secret7")
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != "4111111111111111 #######" {
		t.Errorf("got %q: with Default off the card must stay, the expression must match", r.Text)
	}
}

// TestCatastrophicBacktrackingFailsClosed: (a+)+$ on 30 a's and a b takes
// about 2^30 steps; the time limit must stop it, the text must come back
// fully masked, and the error must say which expression.
func TestCatastrophicBacktrackingFailsClosed(t *testing.T) {
	e := mustNew(t, Config{Default: true, Additional: []string{`(a+)+$`}, Timeout: 50 * time.Millisecond})
	in := "card 4111111111111111 " + strings.Repeat("a", 30) + "b\nline two"
	r, err := e.Redact(in)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if !strings.Contains(err.Error(), "expr:1") || strings.Contains(err.Error(), "4111") {
		t.Errorf("error %q should name the expression and hold no text", err)
	}
	want := strings.Repeat("#", len("card 4111111111111111 ")+31) + "\n" + strings.Repeat("#", len("line two"))
	if r.Text != want {
		t.Errorf("fail-closed text = %q, want %q", r.Text, want)
	}
	if len(r.Spans) != 0 {
		t.Errorf("spans on failure = %v, want none", r.Spans)
	}
}

// TestTimeoutErrorHoldsNoText: the expression's window here is the whole
// line, card included; regexp2's own timeout message quotes its input, and
// none of it may reach the error.
func TestTimeoutErrorHoldsNoText(t *testing.T) {
	e := mustNew(t, Config{Default: true, Additional: []string{`(.+)+z`}, Timeout: 20 * time.Millisecond})
	r, err := e.Redact("card 4111111111111111 " + strings.Repeat("a", 40))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if strings.Contains(err.Error(), "4111") || strings.Contains(err.Error(), "aaaa") || strings.Contains(r.Text, "4111") {
		t.Errorf("error %q or text %q holds the input", err, r.Text)
	}
}

// TestTimeoutIsPerText: many windows that each take a while add up; the
// limit applies to the text, not to each window.
func TestTimeoutIsPerText(t *testing.T) {
	e := mustNew(t, Config{Additional: []string{`(a|aa)+$`}, Timeout: 30 * time.Millisecond})
	var sb strings.Builder
	for i := 0; i < 400; i++ {
		sb.WriteString(strings.Repeat("a", 22) + "b ")
	}
	if _, err := e.Redact(sb.String()); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout over the whole text", err)
	}
}

func TestZeroAllocationsWithoutMatch(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	chat := []byte("Hi! Order 10004567 shipped on 2024-11-24, call 555-123-4567, total $1,234.50. Thanks, Anna")
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"default", DefaultConfig()},
		{"default+ssn", Config{Default: true, Additional: []string{ssnSearch}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustNew(t, tc.cfg)
			dst := make([]byte, 0, 1024)
			spans := make([]Span, 0, 16)
			allocs := testing.AllocsPerRun(100, func() {
				var err error
				dst, spans, err = e.AppendRedact(dst[:0], chat, spans[:0])
				if err != nil || len(spans) != 0 {
					t.Fatalf("unexpected: %v %v", err, spans)
				}
			})
			if allocs != 0 {
				t.Errorf("AppendRedact allocated %.1f times per call, want 0", allocs)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	e := mustNew(t, Config{Default: true, Additional: []string{ssnSearch}})
	in := "card 4111 1111 1111 1111 ssn 123-45-6789"
	want := "card ################### ssn ###########"
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				r, err := e.Redact(in)
				if err != nil || r.Text != want {
					t.Errorf("concurrent Redact = %q, %v", r.Text, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestMask(t *testing.T) {
	in := []byte("ab４５cd")
	got := string(Mask(nil, in, []Span{{Start: 1, End: 8}, {Start: 5, End: 9}}))
	if got != "a####d" {
		t.Errorf("Mask overlapping = %q, want a####d", got)
	}
	if got := string(MaskAll(nil, []byte("é1\r\nx"))); got != "##\r\n#" {
		t.Errorf("MaskAll = %q", got)
	}
}
