package voice

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/secureinput/gateway/secure"
)

var cardFields = []secure.Field{
	{ID: "amount", Kind: secure.KindAmount, AgentFills: true},
	{ID: "card_number", Name: "card number", Kind: secure.KindCardNumber},
	{ID: "expiry", Name: "expiry", Kind: secure.KindExpiry},
	{ID: "cvv", Name: "security code", Kind: secure.KindSecurityCode},
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// keyIn presses keys one second apart starting at *now.
func keyIn(c *Collector, keys string, now *time.Time) []Progress {
	var out []Progress
	for _, k := range []byte(keys) {
		*now = now.Add(time.Second)
		out = append(out, c.Key(k, *now))
	}
	return out
}

func TestCollectorCardForm(t *testing.T) {
	c, err := NewCollector(cardFields, Prompting{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	if p := c.Prompt(); p.Field != "card_number" || p.MaxDigits != 19 || p.Terminator != "#" {
		t.Errorf("first prompt %+v", p)
	}
	// A mistake, '*' to restart, then the number.
	keyIn(c, "41119*", &now)
	prog := keyIn(c, "4111111111111111", &now)
	if last := prog[len(prog)-1]; last.Digits != 16 || last.Brand != "Visa" {
		t.Errorf("progress %+v", last)
	}
	for _, p := range prog {
		if fmt.Sprint(p) == "" || p.Field != "card_number" {
			t.Errorf("progress %+v", p)
		}
	}
	if p := keyIn(c, "#", &now)[0]; p.Valid == nil || !*p.Valid {
		t.Errorf("card number not valid: %+v", p)
	}
	// A past expiry is asked again, then a good one (4 digits end the field).
	if p := keyIn(c, "0120", &now)[3]; p.Valid == nil || *p.Valid {
		t.Errorf("expired date accepted: %+v", p)
	}
	if c.Prompt().Attempt != 2 || !c.Prompt().Retry {
		t.Errorf("re-prompt %+v", c.Prompt())
	}
	keyIn(c, "1230", &now)
	// Visa: 3-digit code; 4 digits are refused, then 3 and '#'.
	keyIn(c, "1234", &now)
	keyIn(c, "123#", &now)
	done, err := c.Done()
	if !done || err != nil {
		t.Fatalf("done %v err %v", done, err)
	}
	v := c.Values()
	if len(v) != 3 || v["expiry"].Len() != 5 {
		t.Errorf("values %d", len(v))
	}
	if fmt.Sprint(v) != "map[card_number:[redacted] cvv:[redacted] expiry:[redacted]]" {
		t.Errorf("values print as %s", fmt.Sprint(v))
	}
}

func TestCollectorTimeoutsAndAttempts(t *testing.T) {
	c, _ := NewCollector(cardFields, Prompting{FirstDigit: 10 * time.Second, InterDigit: 3 * time.Second}, t0)
	c.Tick(t0.Add(9 * time.Second))
	if done, _ := c.Done(); done {
		t.Fatal("timed out before the first-digit timeout")
	}
	c.Tick(t0.Add(11 * time.Second))
	if _, err := c.Done(); !errors.Is(err, ErrTimeout) {
		t.Errorf("first-digit timeout: %v", err)
	}

	c, _ = NewCollector(cardFields, Prompting{InterDigit: 3 * time.Second}, t0)
	c.Key('4', t0.Add(time.Second))
	c.Tick(t0.Add(5 * time.Second))
	if _, err := c.Done(); !errors.Is(err, ErrTimeout) {
		t.Errorf("inter-digit timeout: %v", err)
	}

	c, _ = NewCollector(cardFields, Prompting{MaxAttempts: 2}, t0)
	now := t0
	keyIn(c, "4111111111111112#", &now) // Luhn
	keyIn(c, "7111111111111114#", &now) // no brand
	if _, err := c.Done(); !errors.Is(err, ErrAttempts) {
		t.Errorf("attempts: %v", err)
	}
	if len(c.Values()) != 0 {
		t.Error("values kept after failure")
	}
	if _, err := NewCollector([]secure.Field{{ID: "a", Kind: secure.KindAmount, AgentFills: true}}, Prompting{}, t0); !errors.Is(err, ErrNoFields) {
		t.Errorf("no keyed field: %v", err)
	}
}

func TestCollectorBrandAndRestart(t *testing.T) {
	fields := []secure.Field{{ID: "card_number", Kind: secure.KindCardNumber, Brands: []string{"visa"}}}
	c, _ := NewCollector(fields, Prompting{}, t0)
	now := t0
	// An Amex is a valid card, but not accepted here: asked again.
	if p := keyIn(c, "378282246310005#", &now); *p[len(p)-1].Valid {
		t.Error("a brand not accepted passed")
	}
	// The agent re-requests the field mid-way: the keys so far are dropped.
	keyIn(c, "5555", &now)
	c.Restart(now)
	if p := keyIn(c, "4", &now)[0]; p.Digits != 1 {
		t.Errorf("after a restart %d digits, want 1", p.Digits)
	}
	keyIn(c, "111111111111111#", &now)
	if done, err := c.Done(); !done || err != nil {
		t.Errorf("done %v err %v", done, err)
	}
}
