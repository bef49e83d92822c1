package redact

import (
	"errors"
	"fmt"
	"slices"
	"time"
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
	e := &Engine{cards: cfg.Default, timeout: cfg.Timeout}
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
		return MaskAll(dst, text), spans[:mark], err
	}
	return Mask(dst, text, spans[mark:]), spans, nil
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
