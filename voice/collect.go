package voice

import (
	"errors"
	"slices"
	"time"

	"github.com/secureinput/gateway/card"
	"github.com/secureinput/gateway/secure"
)

// Defaults of Prompting.
const (
	DefaultFirstDigit  = 10 * time.Second
	DefaultInterDigit  = 5 * time.Second
	DefaultMaxAttempts = 3
	maxFieldDigits     = 32
)

// Prompting is how fields are asked for.
type Prompting struct {
	FirstDigit  time.Duration // from the prompt to the first key
	InterDigit  time.Duration // between keys
	MaxAttempts int           // bad values re-prompted before the session fails
}

func (p Prompting) withDefaults() Prompting {
	if p.FirstDigit <= 0 {
		p.FirstDigit = DefaultFirstDigit
	}
	if p.InterDigit <= 0 {
		p.InterDigit = DefaultInterDigit
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	return p
}

// Collection errors: what the caller hears and the agent sees.
var (
	ErrTimeout  = errors.New("voice: no key pressed in time")
	ErrAttempts = errors.New("voice: too many invalid attempts")
	ErrNoFields = errors.New("voice: the form has no field the caller can key in")
)

// Prompt is what the platform plays for the current field.
type Prompt struct {
	Field      string        `json:"field"` // field id
	Text       string        `json:"text"`  // to speak
	MaxDigits  int           `json:"max_digits"`
	Terminator string        `json:"terminator"` // "#"
	Restart    string        `json:"restart"`    // "*"
	FirstDigit time.Duration `json:"-"`
	InterDigit time.Duration `json:"-"`
	Attempt    int           `json:"attempt"`
	Retry      bool          `json:"retry"` // the last value was not valid
}

// Progress is what the agent may see of a field, in hold and assisted mode
// alike: how many keys, whether the value is valid, and the card brand once
// known. Never a digit.
type Progress struct {
	Field  string `json:"field"`
	Digits int    `json:"digits"` // shown as ●●●●
	Valid  *bool  `json:"valid,omitempty"`
	Brand  string `json:"brand,omitempty"`
}

// Collector gathers the caller's keys for the customer fields of a form, one
// field after another: '#' ends a field, '*' restarts it, a field also ends
// at its most digits, timeouts end the session. A value that fails the
// field's rules is asked for again, up to MaxAttempts. The digits are kept
// as secure values and wiped when the collector ends. Time is passed in, so
// the caller owns the clock. Not safe for concurrent use.
type Collector struct {
	fields   []secure.Field
	p        Prompting
	cur      int
	digits   []byte
	attempt  int
	deadline time.Time
	values   map[string]secure.Value
	done     bool
	err      error
}

// NewCollector starts collecting the customer fields of fields at now.
func NewCollector(fields []secure.Field, p Prompting, now time.Time) (*Collector, error) {
	var keyed []secure.Field
	for _, f := range fields {
		if !f.AgentFills {
			keyed = append(keyed, f)
		}
	}
	if len(keyed) == 0 {
		return nil, ErrNoFields
	}
	c := &Collector{fields: keyed, p: p.withDefaults(), values: map[string]secure.Value{}, attempt: 1}
	c.deadline = now.Add(c.p.FirstDigit)
	return c, nil
}

// Prompt describes what to ask for now.
func (c *Collector) Prompt() Prompt {
	f := c.fields[c.cur]
	return Prompt{Field: f.ID, Text: promptText(f), MaxDigits: maxDigits(f.Kind), Terminator: "#", Restart: "*",
		FirstDigit: c.p.FirstDigit, InterDigit: c.p.InterDigit, Attempt: c.attempt, Retry: c.attempt > 1}
}

func promptText(f secure.Field) string {
	switch f.Kind {
	case secure.KindCardNumber:
		return "Please enter your card number, then press the hash key."
	case secure.KindExpiry:
		return "Please enter the expiry date, two digits for the month and two for the year, then hash."
	case secure.KindSecurityCode:
		return "Please enter the security code on the back of your card, then hash."
	case secure.KindSSN:
		return "Please enter your social security number, then hash."
	}
	return "Please enter your " + f.Name + ", then press the hash key."
}

func maxDigits(k secure.Kind) int {
	switch k {
	case secure.KindCardNumber:
		return card.MaxLength
	case secure.KindExpiry:
		return 4
	case secure.KindSecurityCode:
		return 4
	case secure.KindSSN:
		return 9
	}
	return maxFieldDigits
}

// Done reports whether collection ended, and its error (nil: every field
// has a valid value).
func (c *Collector) Done() (bool, error) { return c.done, c.err }

// Key takes one key press at now. It returns the progress of the current
// field (for the agent in agent-assisted mode).
func (c *Collector) Key(key byte, now time.Time) Progress {
	if c.done {
		return Progress{}
	}
	if c.expired(now) {
		return Progress{Field: c.fields[c.cur].ID}
	}
	f := c.fields[c.cur]
	switch {
	case key == '*':
		clear(c.digits)
		c.digits = c.digits[:0]
		c.deadline = now.Add(c.p.FirstDigit)
		return Progress{Field: f.ID}
	case key == '#':
		return c.finishField(now)
	case key >= '0' && key <= '9':
		if len(c.digits) < maxFieldDigits {
			c.digits = append(c.digits, key)
		}
		c.deadline = now.Add(c.p.InterDigit)
		if len(c.digits) >= maxDigits(f.Kind) {
			return c.finishField(now)
		}
	}
	return c.progress(f)
}

func (c *Collector) progress(f secure.Field) Progress {
	p := Progress{Field: f.ID, Digits: len(c.digits)}
	if f.Kind == secure.KindCardNumber && len(c.digits) > 0 {
		p.Brand = card.BrandName(string(c.digits))
	}
	return p
}

// Tick checks the timeouts at now; it ends the collection with ErrTimeout
// when the caller took too long.
func (c *Collector) Tick(now time.Time) { c.expired(now) }

func (c *Collector) expired(now time.Time) bool {
	if !c.done && now.After(c.deadline) {
		c.fail(ErrTimeout)
		return true
	}
	return false
}

// finishField checks the digits of the current field against its rules
// (with the values before it, so a security code knows its card's brand).
func (c *Collector) finishField(now time.Time) Progress {
	f := c.fields[c.cur]
	value := secure.NewValue(formatDigits(f.Kind, c.digits))
	clear(c.digits)
	c.digits = c.digits[:0]
	fields := append(slices.Clone(c.fields[:c.cur]), f)
	values := map[string]secure.Value{f.ID: value}
	for k, v := range c.values {
		values[k] = v
	}
	valid := len(secure.Check(fields, values, nil, now)) == 0
	p := Progress{Field: f.ID, Valid: &valid}
	if !valid {
		value.Wipe()
		c.attempt++
		if c.attempt > c.p.MaxAttempts {
			c.fail(ErrAttempts)
			return p
		}
		c.deadline = now.Add(c.p.FirstDigit)
		return p
	}
	c.values[f.ID] = value
	c.cur++
	c.attempt = 1
	if c.cur == len(c.fields) {
		c.done = true
		return p
	}
	c.deadline = now.Add(c.p.FirstDigit)
	return p
}

// formatDigits turns keyed digits into the form the field rules read:
// an expiry's MMYY as MM/YY.
func formatDigits(k secure.Kind, d []byte) string {
	if k == secure.KindExpiry && len(d) == 4 {
		return string(d[:2]) + "/" + string(d[2:])
	}
	return string(d)
}

// Restart asks for the current field again (the agent re-requests it).
func (c *Collector) Restart(now time.Time) {
	if c.done {
		return
	}
	clear(c.digits)
	c.digits = c.digits[:0]
	c.deadline = now.Add(c.p.FirstDigit)
}

// Values hands the collected values over (to the secure pipeline, which
// wipes them) and forgets them. Only after Done reported no error.
func (c *Collector) Values() map[string]secure.Value {
	v := c.values
	c.values = map[string]secure.Value{}
	return v
}

func (c *Collector) fail(err error) {
	c.done, c.err = true, err
	clear(c.digits)
	c.digits = nil
	for k, v := range c.values {
		v.Wipe()
		delete(c.values, k)
	}
}
