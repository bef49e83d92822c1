package main

import (
	"strings"
	"testing"

	"github.com/secureinput/gateway/redact"
)

// TestDemoSSNExpression: the demo's SSN expression catches the usual
// spellings and leaves nine-digit order numbers and look-alikes alone.
func TestDemoSSNExpression(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	rc := cfg.redactConfig()
	rc.Default = false
	e, err := redact.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"ssn 123-45-6789", "123 45 6789", "123.45.6789", "123–45–6789", "123—45—6789",
		"SSN: 123456789", "my ssn is 123456789", "Social Security Number 123456789", "social security no. 123456789",
		"SS# 123456789",
	} {
		r, _ := e.Redact(in)
		if strings.ContainsAny(r.Text[strings.LastIndexAny(r.Text, "#")+1:], "0123456789") || !strings.Contains(r.Text, "#########") {
			t.Errorf("Redact(%q) = %q: SSN not masked", in, r.Text)
		}
	}
	for _, in := range []string{
		"order 123456789", "order #123456789 shipped", "123-45-67890", "2024-11-24", "192.168.10.1",
		"1234-56-7890", "call 123 456 7890", "123-45 6789", "$123.45", "order 123.45.6789.1",
	} {
		if r, _ := e.Redact(in); r.Text != in {
			t.Errorf("Redact(%q) = %q, want it untouched", in, r.Text)
		}
	}
}

// TestConfigRefusesCatastrophicExpressions: gateway config check names an
// expression that backtracks catastrophically, and a bad display style.
func TestConfigRefusesCatastrophicExpressions(t *testing.T) {
	_, err := parseConfig("t.yaml", []byte("redaction:\n  expressions:\n    - '\\d{3}'\n    - '(a+)+$'\n  display:\n    chat: last3\n"))
	if err == nil {
		t.Fatal("a catastrophic expression and a bad display were accepted")
	}
	msg := err.Error()
	for _, want := range []string{"t.yaml:4:", "redaction.expressions[1]", "(a+)+$", "catastrophically", "redaction.display.chat", "last3"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, `\d{3}`) {
		t.Errorf("error %q blames the good expression", msg)
	}
	cfg, err := parseConfig("t.yaml", []byte("redaction:\n  display:\n    chat: last4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c, m := cfg.displays(); c != redact.DisplayLast4 || m != redact.DisplayMask {
		t.Errorf("displays = %v, %v", c, m)
	}
}
