package redact

import (
	"slices"
	"testing"
	"time"
)

func TestDisplayLast4(t *testing.T) {
	e := mustNew(t, Config{Default: true, Display: DisplayLast4})
	for _, tc := range []struct{ in, want string }{
		{"4111111111111111", "############1111"},
		{"card 4111 1111 1111 1111 cvv 123", "card ###############1111 cvv ###"},
		{"３７８２ ８２２４６３ １０００５", "#############０００５"},
	} {
		r, err := e.Redact(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if r.Text != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, r.Text, tc.want)
		}
	}
	// The default masks everything, and WithDisplay shares the counters.
	d := mustNew(t, DefaultConfig())
	if r, _ := d.Redact("4111111111111111"); r.Text != "################" {
		t.Errorf("default display: %q", r.Text)
	}
	l4 := d.WithDisplay(DisplayLast4)
	if r, _ := l4.Redact("4111111111111111"); r.Text != "############1111" {
		t.Errorf("WithDisplay(DisplayLast4): %q", r.Text)
	}
	rules, _ := d.Counts()
	if rules[0] != (RuleCount{KindCard, 2}) {
		t.Errorf("counts %v, want card 2 across both engines", rules)
	}
	// A stream in last4 keeps the last four of a card completed later.
	s := NewStream(l4, 0)
	now := time.Unix(0, 0)
	first, _, _, _ := s.Push(1, now, []byte("4111 1111 1111"))
	second, _, updates, _ := s.Push(2, now.Add(time.Second), []byte("1111"))
	if string(first) != "4111 11## ####" || string(second) != "1111" || len(updates) != 1 || updates[0].Text != "##############" {
		t.Errorf("stream in last4: %q, %q, %v", first, second, updates)
	}
	if _, err := ParseDisplay("last3"); err == nil {
		t.Error("ParseDisplay(last3) succeeded")
	}
}

func TestCountsAndRules(t *testing.T) {
	e := mustNew(t, Config{Default: true, Additional: []string{`\bSECRET\b`}})
	r, _ := e.Redact("4111 1111 1111 1111 cvv 123 SECRET and SECRET")
	if got := Rules(r.Spans); !slices.Equal(got, []string{KindCard, KindSecurityCode, "expr:1"}) {
		t.Errorf("Rules = %v", got)
	}
	rules, failed := e.Counts()
	want := []RuleCount{{KindCard, 1}, {KindSecurityCode, 1}, {KindCardPrefix, 0}, {"expr:1", 2}}
	if !slices.Equal(rules, want) || failed != 0 {
		t.Errorf("Counts = %v, %d; want %v, 0", rules, failed, want)
	}
}
