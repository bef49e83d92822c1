package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runGateway runs the command in-process.
func runGateway(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestRedactText(t *testing.T) {
	out, errs, code := runGateway(t, "Hi, card 4111 1111 1111 1111 exp 12/29\nssn 123-45-6789\n", "redact")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if want := "Hi, card ################### exp 12/29\nssn 123-45-6789\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
}

func TestRedactFlags(t *testing.T) {
	dir := t.TempDir()
	exprFile := filepath.Join(dir, "exprs")
	if err := os.WriteFile(exprFile, []byte("# US SSN\n\\b\\d{3}-\\d{2}-\\d{4}\\b\n\n  # indented comment\n(?i)acct\\d+\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := "4111111111111111 123-45-6789 ACCT42 secret9\n"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"default", nil, "################ 123-45-6789 ACCT42 secret9\n"},
		{"expr", []string{"--expr", `secret\d`}, "################ 123-45-6789 ACCT42 #######\n"},
		{"expr twice", []string{"--expr", `secret\d`, "--expr", `\d{3}-\d{2}-\d{4}`}, "################ ########### ACCT42 #######\n"},
		{"expr-file", []string{"--expr-file", exprFile}, "################ ########### ###### secret9\n"},
		{"no-default", []string{"--no-default", "--expr", `secret\d`}, "4111111111111111 123-45-6789 ACCT42 #######\n"},
		{"lookahead", []string{"--no-default", "--expr", `\d+(?=-\d{2}-)`}, "4111111111111111 ###-45-6789 ACCT42 secret9\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := runGateway(t, in, append([]string{"redact"}, tc.args...)...)
			if code != 0 || out != tc.want {
				t.Errorf("exit %d stderr %q\n got %q\nwant %q", code, errs, out, tc.want)
			}
		})
	}
}

func TestRedactUsageErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("# nothing\n"), 0o600)
	tests := []struct {
		name    string
		args    []string
		wantSub string
	}{
		{"unknown flag", []string{"redact", "--bogus"}, "-bogus"},
		{"bad expression", []string{"redact", "--expr", "(ab"}, `expression 1 "(ab"`},
		{"bad second expression", []string{"redact", "--expr", "a", "--expr", "[z-a]"}, "expression 2"},
		{"missing expr file", []string{"redact", "--expr-file", filepath.Join(dir, "nope")}, "--expr-file"},
		{"empty expr file", []string{"redact", "--expr-file", empty}, "no expression"},
		{"nothing to do", []string{"redact", "--no-default"}, "--no-default needs"},
		{"bad timeout", []string{"redact", "--timeout", "soon"}, "timeout"},
		{"zero timeout", []string{"redact", "--timeout", "0s"}, "positive"},
		{"stray argument", []string{"redact", "file.txt"}, "unexpected argument"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := runGateway(t, "4111111111111111\n", tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tc.wantSub) {
				t.Errorf("stderr %q: want one line mentioning %q", errs, tc.wantSub)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}

func TestRedactTimeoutFailsClosed(t *testing.T) {
	in := "card 4111111111111111\n" + strings.Repeat("a", 30) + "b\n"
	out, errs, code := runGateway(t, in, "redact", "--expr", "(a+)+$", "--timeout", "20ms")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if strings.Contains(out, "4111") || strings.Contains(out, "aaa") || len(out) != len(in) {
		t.Errorf("stdout %q: want the chunk fully masked, same length", out)
	}
	if !strings.Contains(errs, "time limit") || strings.Contains(errs, "4111") {
		t.Errorf("stderr %q: want the failure, without the text", errs)
	}
}

func TestRedactJSONL(t *testing.T) {
	in := strings.Join([]string{
		`{"id": 1, "text": "card 4111 1111 1111 1111"}`,
		`{"id": "two", "text": "nothing here"}`,
		`not json 4111111111111111`,
		`{"id": 4}`,
		``,
		`[1, 2]`,
		`{"id": {"k": [5]}, "text": "é ４１１１１１１１１１１１１１１１", "extra": true}`,
	}, "\n")
	out, errs, code := runGateway(t, in, "redact", "--jsonl")
	if code != 1 {
		t.Errorf("exit %d, want 1 (some lines failed); stderr %q", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d output lines, want 6 (blank input lines skipped):\n%s", len(lines), out)
	}
	type span struct {
		Start, End int
		Kind       string
	}
	type line struct {
		ID    json.RawMessage
		Text  *string
		Spans *[]span
		Line  int
		Error string
	}
	var got []line
	for _, l := range lines {
		var v line
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("output line %q is not JSON: %v", l, err)
		}
		got = append(got, v)
	}
	if string(got[0].ID) != "1" || *got[0].Text != "card ###################" || len(*got[0].Spans) != 1 ||
		(*got[0].Spans)[0] != (span{5, 24, "card"}) {
		t.Errorf("line 1: %s", lines[0])
	}
	if string(got[1].ID) != `"two"` || *got[1].Text != "nothing here" || got[1].Spans == nil || len(*got[1].Spans) != 0 {
		t.Errorf("line 2: %s (want spans: [])", lines[1])
	}
	if got[2].Error == "" || got[2].Line != 3 || strings.Contains(lines[2], "4111") {
		t.Errorf("line 3: %s (want an error for line 3 that does not echo the input)", lines[2])
	}
	if got[3].Error == "" || string(got[3].ID) != "4" || got[3].Line != 4 {
		t.Errorf("line 4: %s (want an error for id 4)", lines[3])
	}
	if got[4].Error == "" || got[4].Line != 6 {
		t.Errorf("line 6: %s", lines[4])
	}
	if string(got[5].ID) != `{"k":[5]}` && string(got[5].ID) != `{"k": [5]}` || *got[5].Text != "é ################" ||
		(*got[5].Spans)[0] != (span{3, 51, "card"}) {
		t.Errorf("line 7: %s", lines[5])
	}
}

// TestFailureMessagesHoldNoText: a timeout on a window that holds a card
// is reported on stderr and in the JSONL error field without the text.
func TestFailureMessagesHoldNoText(t *testing.T) {
	text := "card 4111111111111111 " + strings.Repeat("a", 40)
	args := []string{"redact", "--expr", "(.+)+z", "--timeout", "20ms"}
	out, errs, code := runGateway(t, text+"\n", args...)
	if code != 1 || strings.Contains(out+errs, "4111") || strings.Contains(errs, "aaaa") {
		t.Errorf("text mode: exit %d, stdout %q, stderr %q: want 1 and no input anywhere", code, out, errs)
	}
	jl, _ := json.Marshal(map[string]any{"id": 1, "text": text})
	out, errs, code = runGateway(t, string(jl)+"\n", append(args, "--jsonl")...)
	if code != 1 || strings.Contains(out+errs, "4111") || strings.Contains(out, "aaaa") || !strings.Contains(out, `"error"`) {
		t.Errorf("jsonl mode: exit %d, stdout %q, stderr %q: want 1, an error field and no input", code, out, errs)
	}
}

func TestRedactJSONLAllGood(t *testing.T) {
	_, errs, code := runGateway(t, `{"id":1,"text":"a"}`+"\n"+`{"id":2,"text":"b"}`, "redact", "--jsonl")
	if code != 0 || errs != "" {
		t.Errorf("exit %d stderr %q, want 0 and nothing", code, errs)
	}
}

func TestHelp(t *testing.T) {
	out, _, code := runGateway(t, "", "redact", "-h")
	if code != 0 || !strings.Contains(out, "--expr") && !strings.Contains(out, "-expr") {
		t.Errorf("redact -h: exit %d, stdout %q", code, out)
	}
	if _, errs, code := runGateway(t, ""); code != 2 || !strings.Contains(errs, "usage") {
		t.Errorf("no command: exit %d, stderr %q", code, errs)
	}
}
