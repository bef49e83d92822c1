package redact

import (
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/secureinput/gateway/card"
)

// DefaultTimeout is the time limit for administrator expressions on one
// text when Config.Timeout is zero.
const DefaultTimeout = 100 * time.Millisecond

// Errors of the engine. Whatever wraps them names the detector, never the
// text.
var (
	// ErrTimeout: an administrator expression did not finish within the
	// time limit (or regexp2 failed on it).
	ErrTimeout = errors.New("time limit exceeded")
	// ErrInternal: a detector panicked.
	ErrInternal = errors.New("internal error")
	// ErrNoDetector: the configuration enables nothing.
	ErrNoDetector = errors.New("redact: no detector: set Default or Additional")
)

// Config configures an Engine.
type Config struct {
	// Default turns on the card number detector ("Redact Using Default
	// Expression"). The zero Config has it off; DefaultConfig has it on.
	Default bool
	// Additional are administrator expressions in .NET syntax (lookarounds,
	// backreferences, inline options), compiled with regexp2. Their spans
	// have kind "expr:1", "expr:2" … in this order.
	Additional []string
	// Timeout bounds the time all Additional expressions may take on one
	// text. If zero, DefaultTimeout is used.
	Timeout time.Duration
	// Display says what of a card number stays visible: DisplayMask (the
	// zero value) masks every character, DisplayLast4 keeps its last four
	// digits ("###############1111"). Security codes, prefixes and expression
	// matches are always masked whole.
	Display Display
}

// Display is how a masked card is shown (Config.Display).
type Display int

// Display styles.
const (
	DisplayMask  Display = iota // every character '#'
	DisplayLast4                // every character '#' but the card's last four digits
)

// ParseDisplay reads a display style as the configuration writes it: "mask"
// or "last4".
func ParseDisplay(s string) (Display, error) {
	switch s {
	case "", "mask":
		return DisplayMask, nil
	case "last4":
		return DisplayLast4, nil
	}
	return 0, fmt.Errorf("redact: display %q: want mask or last4", s)
}

// DefaultConfig returns the configuration used when nothing is configured:
// the card detector on, no additional expressions, DefaultTimeout.
func DefaultConfig() Config {
	return Config{Default: true, Timeout: DefaultTimeout}
}

// Engine finds and masks sensitive data. It is safe for concurrent use, and
// a call on a text with no match allocates nothing.
type Engine struct {
	cards   bool
	exprs   []*expression
	timeout time.Duration
	display Display
	counts  *ruleCounts
}

// New validates cfg and compiles its expressions. The error of a bad
// expression names its position, its text and what is wrong. New does no I/O.
func New(cfg Config) (*Engine, error) {
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("redact: Timeout %v is negative", cfg.Timeout)
	}
	if !cfg.Default && len(cfg.Additional) == 0 {
		return nil, ErrNoDetector
	}
	if cfg.Display != DisplayMask && cfg.Display != DisplayLast4 {
		return nil, fmt.Errorf("redact: Display %d is not a display style", cfg.Display)
	}
	e := &Engine{cards: cfg.Default, timeout: cfg.Timeout, display: cfg.Display, counts: newRuleCounts(len(cfg.Additional))}
	if e.timeout == 0 {
		e.timeout = DefaultTimeout
	}
	for i, src := range cfg.Additional {
		x, err := compileExpression(i+1, src, e.timeout)
		if err != nil {
			return nil, err
		}
		e.exprs = append(e.exprs, x)
	}
	return e, nil
}

// Find appends to spans every match in text, sorted by Start (ties by End).
// Spans of different detectors may overlap. On error the spans are
// incomplete and the text must not be shown: use AppendRedact, which fails
// closed.
func (e *Engine) Find(text []byte, spans []Span) (_ []Span, err error) {
	mark := len(spans)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("redact: %w: %v", ErrInternal, p)
		}
	}()
	if e.cards {
		spans = findCards(text, spans)
	}
	if len(e.exprs) > 0 {
		deadline := time.Now().Add(e.timeout)
		for _, x := range e.exprs {
			if spans, err = x.find(text, spans, deadline); err != nil {
				return spans, err
			}
		}
		// Each detector's spans are sorted; together they need merging.
		slices.SortFunc(spans[mark:], func(a, b Span) int {
			if a.Start != b.Start {
				return a.Start - b.Start
			}
			return a.End - b.End
		})
	}
	return spans, nil
}

// AppendRedact appends the redacted text to dst and the spans found to
// spans. If redaction cannot finish it fails closed: it appends MaskAll of
// the text (line breaks kept, every other character '#') and returns the
// error. With dst and spans of enough capacity it allocates nothing when
// nothing matches.
func (e *Engine) AppendRedact(dst, text []byte, spans []Span) ([]byte, []Span, error) {
	mark := len(spans)
	spans, err := e.Find(text, spans)
	if err != nil {
		e.counts.failed.Add(1)
		return MaskAll(dst, text), spans[:mark], err
	}
	e.count(spans[mark:])
	return e.mask(dst, text, spans[mark:]), spans, nil
}

// WithDisplay returns an engine that shares e's detectors and counts and
// shows cards as d: one engine a channel, one set of counters.
func (e *Engine) WithDisplay(d Display) *Engine {
	c := *e
	c.display = d
	return &c
}

// mask is Mask in the engine's display style.
func (e *Engine) mask(dst, text []byte, spans []Span) []byte {
	if e.display != DisplayLast4 {
		return Mask(dst, text, spans)
	}
	return MaskLast4(dst, text, spans)
}

// MaskLast4 is Mask, except that the last four digits of each card span
// (KindCard) stay visible, and the separators among them.
func MaskLast4(dst, text []byte, spans []Span) []byte {
	pos := 0
	for _, s := range spans {
		if s.End <= pos {
			continue
		}
		start := max(s.Start, pos)
		keep := s.End
		if s.Kind == KindCard {
			for digits := 0; keep > start && digits < 4; {
				r, size := utf8.DecodeLastRune(text[:keep])
				if card.DigitValue(r) >= 0 {
					digits++
				}
				keep -= size
			}
		}
		dst = append(dst, text[pos:start]...)
		dst = Mask(dst, text[start:keep], []Span{{Start: 0, End: keep - start}})
		dst = append(dst, text[keep:s.End]...)
		pos = s.End
	}
	return append(dst, text[pos:]...)
}

// Result is a redacted text and what was masked in it.
type Result struct {
	// Text is the input with every character of every span replaced by '#'.
	Text string
	// Spans are byte offsets into the input, sorted.
	Spans []Span
}

// Redact is AppendRedact for a string. On error, Result.Text is fully
// masked.
func (e *Engine) Redact(text string) (Result, error) {
	out, spans, err := e.AppendRedact(make([]byte, 0, len(text)), []byte(text), nil)
	return Result{Text: string(out), Spans: spans}, err
}
