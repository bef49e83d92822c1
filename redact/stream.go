package redact

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/secureinput/gateway/card"
)

// Stream limits. A card number has at most 19 digits and a few separators
// between groups, so a tail longer than maxTailBytes cannot hold a useful
// part of one; maxStreamParts bounds how many earlier messages one number
// may be spread over.
const (
	maxTailBytes   = 96
	maxStreamParts = card.MaxLength
	// DefaultStreamWindow is how long an earlier message may still be joined
	// with a new one when the caller passes zero.
	DefaultStreamWindow = 60 * time.Second
)

// A Stream redacts the consecutive messages of one author in one
// conversation and catches a card number split across them ("my card is 4111
// 1111" then "1111 1111"). It keeps, for each of the last few messages sent
// within its window, the redacted text and the unredacted run of digits and
// separators at its end (at most maxTailBytes, in memory only, wiped when it
// expires). A Stream is not safe for concurrent use; the caller serialises
// the messages of one author, which it must do anyway to keep their order.
//
// What an agent may see of a card typed over several messages is bounded by
// PCI DSS's display rule, its first six and last four digits: a message that
// ends in a possible card prefix (prefix.go) shows the first six digits of
// that prefix, counted from the earlier messages it continues, and masks the
// rest at once, for good. When a later message completes a card, that
// message is masked and Updates mask the earlier parts wholly.
type Stream struct {
	engine *Engine
	window time.Duration
	parts  []streamPart // oldest first
}

type streamPart struct {
	id       int64
	at       time.Time
	redacted []byte // what the transcript holds for this message now
	tailAt   int    // where the tail's redaction starts in redacted
	tailRed  int    // the length of the tail's redaction in redacted
	tail     []byte // unredacted run of digits and separators near its end
	masked   []Span // what of tail is masked, relative to tail
	whole    bool   // the message is nothing but that run
	card     bool   // the message held a card or ended in a possible prefix of one
}

// An Update is an earlier message whose redacted text changed because a
// number it ends with continued in a later message.
type Update struct {
	ID   int64  // the id the caller gave that message in Push
	Text string // its new redacted text, to store and show instead
}

// NewStream returns a Stream over e that joins messages sent less than window
// apart (DefaultStreamWindow if window is zero).
func NewStream(e *Engine, window time.Duration) *Stream {
	if window <= 0 {
		window = DefaultStreamWindow
	}
	return &Stream{engine: e, window: window}
}

// maxJoinAfterLead is how much of a new message past its leading run the
// join looks at, for a security code after the card it completes.
const maxJoinAfterLead = 48

// Push redacts text, the message the caller calls id, sent at at. It returns
// the redacted text and its spans, and an Update for every earlier message of
// the stream whose end, together with the start of text, forms a number that
// must be masked. If redaction fails, Push returns the fully masked text and
// the error, and forgets the earlier messages; the caller withholds text.
func (s *Stream) Push(id int64, at time.Time, text []byte) (redacted []byte, spans []Span, updates []Update, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.Reset()
			redacted, spans, updates, err = MaskAll(nil, text), nil, nil, fmt.Errorf("redact: stream: %w: %v", ErrInternal, p)
		}
	}()
	spans, err = s.engine.Find(text, nil)
	if err != nil {
		s.Reset()
		return MaskAll(nil, text), nil, nil, err
	}
	s.expire(at)
	var last *streamPart
	if len(s.parts) > 0 {
		last = &s.parts[len(s.parts)-1]
	}

	lead := leadingRun(text)
	joinedCard := false
	if lead > 0 && last != nil {
		var more []Span
		more, updates, joinedCard, err = s.join(text, lead)
		if err != nil {
			s.Reset()
			return MaskAll(nil, text), nil, nil, err
		}
		spans = mergeSpans(spans, more)
	}
	start, end := trailingRun(text)
	if len(spans) > 0 && spans[len(spans)-1].End > start {
		start = max(start, spans[len(spans)-1].End)
	}
	p := streamPart{id: id, at: at}
	continued := false
	if start < end {
		p.tail = append([]byte(nil), text[start:end]...)
		p.whole = onlySeparators(text[:start])
		// The earlier tails this run continues, if it opens the message.
		var chain [][]byte
		if p.whole && !joinedCard && last != nil {
			chain = s.chain()
		}
		prefix, found := prefixSpans(chain, p.tail)
		for _, sp := range prefix {
			spans = mergeSpans(spans, []Span{{Start: start + sp.Start, End: start + sp.End, Kind: KindCardPrefix}})
		}
		p.masked = prefix
		p.card = found
		continued = found && len(chain) > 0
	}
	// A code alone, as the next message after a card (and not the next
	// group of one).
	if last != nil && last.card && !continued {
		if from, to, ok := loneCode(text); ok {
			spans = mergeSpans(spans, []Span{{Start: from, End: to, Kind: KindSecurityCode}})
			wipe(p.tail)
			p.tail, p.masked, p.card = nil, nil, false
		}
	}
	for _, sp := range spans {
		p.card = p.card || sp.Kind == KindCard
	}
	redacted = s.engine.mask(nil, text, spans)
	s.engine.count(spans)
	p.redacted = redacted
	if p.tail != nil {
		p.tailAt = len(s.engine.mask(nil, text[:start], clipSpans(spans, 0, start)))
		p.tailRed = len(Mask(nil, p.tail, p.masked))
		if len(redacted)-p.tailAt < p.tailRed {
			// The tail's redaction is not where it should be (a span of
			// another detector reaches into it): keep no tail.
			wipe(p.tail)
			p.tail, p.masked = nil, nil
		}
	}
	s.parts = append(s.parts, p)
	if len(s.parts) > maxStreamParts {
		wipe(s.parts[0].tail)
		s.parts = append(s.parts[:0], s.parts[1:]...)
	}
	return redacted, spans, updates, nil
}

// clipSpans returns the parts of spans inside [from, to), shifted by -from.
func clipSpans(spans []Span, from, to int) []Span {
	var out []Span
	for _, sp := range spans {
		a, b := max(sp.Start, from), min(sp.End, to)
		if a < b {
			out = append(out, Span{Start: a - from, End: b - from, Kind: sp.Kind})
		}
	}
	return out
}

// chain returns the tails a new message's leading run continues: the latest
// message's tail, and before it the tails of messages that consist of
// nothing but their tail.
func (s *Stream) chain() [][]byte {
	first := s.chainStart()
	if first < 0 {
		return nil
	}
	var out [][]byte
	for _, p := range s.parts[first:] {
		out = append(out, p.tail)
	}
	return out
}

// chainStart is the index of the first part of the chain, or -1.
func (s *Stream) chainStart() int {
	first := len(s.parts) - 1
	if first < 0 || len(s.parts[first].tail) == 0 {
		return -1
	}
	for first > 0 && s.parts[first].whole && len(s.parts[first-1].tail) > 0 {
		first--
	}
	return first
}

// join looks for a number that starts in the tails of earlier messages and
// continues into the leading run of text (lead bytes). It returns the spans
// to add to text, the updates to earlier messages, and whether a card was
// completed.
func (s *Stream) join(text []byte, lead int) ([]Span, []Update, bool, error) {
	first := s.chainStart()
	if first < 0 {
		return nil, nil, false, nil
	}
	var joined []byte
	offsets := make([]int, 0, len(s.parts)-first+1)
	for _, p := range s.parts[first:] {
		offsets = append(offsets, len(joined))
		joined = append(joined, p.tail...)
		joined = append(joined, ' ')
	}
	leadAt := len(joined)
	ext := min(len(text), lead+maxJoinAfterLead)
	for ext < len(text) && !utf8.RuneStart(text[ext]) {
		ext++
	}
	joined = append(joined, text[:ext]...)
	defer wipe(joined)

	found, err := s.engine.Find(joined, nil)
	if err != nil {
		return nil, nil, false, err
	}
	firstDigit := 0
	for firstDigit < lead {
		_, val, size := decode(text, firstDigit)
		if val >= 0 {
			break
		}
		firstDigit += size
	}
	var more []Span
	var updates []Update
	completed := false
	defer func() {
		// A card completed: its earlier parts are final, their tails done.
		if completed {
			for k := range s.parts[first:] {
				if pp := &s.parts[first+k]; pp.card {
					wipe(pp.tail)
					pp.tail, pp.masked = nil, nil
				}
			}
		}
	}()
	for _, sp := range found {
		if sp.End <= leadAt {
			continue // wholly in earlier messages: already handled there
		}
		if sp.Start >= leadAt {
			// Wholly in the new message: the message alone found it,
			// unless it is the code after the card just completed.
			if sp.Kind == KindSecurityCode && completed {
				more = append(more, Span{Start: sp.Start - leadAt, End: sp.End - leadAt, Kind: sp.Kind})
			}
			continue
		}
		completed = completed || sp.Kind == KindCard
		more = append(more, Span{Start: firstDigit, End: sp.End - leadAt, Kind: sp.Kind})
		for k := range s.parts[first:] {
			pp := &s.parts[first+k]
			from, to := max(sp.Start, offsets[k]), min(sp.End, offsets[k]+len(pp.tail))
			if from >= to || pp.tail == nil {
				continue
			}
			pp.masked = mergeSpans(pp.masked, []Span{{Start: from - offsets[k], End: to - offsets[k], Kind: sp.Kind}})
			rest := pp.redacted[pp.tailAt+pp.tailRed:]
			red := append([]byte(nil), pp.redacted[:pp.tailAt]...)
			red = Mask(red, pp.tail, pp.masked)
			pp.tailRed = len(red) - pp.tailAt
			pp.redacted = append(red, rest...)
			pp.card = pp.card || sp.Kind == KindCard
			updates = appendUpdate(updates, pp.id, string(pp.redacted))
		}
	}
	return more, updates, completed, nil
}

func appendUpdate(updates []Update, id int64, text string) []Update {
	for i := range updates {
		if updates[i].ID == id {
			updates[i].Text = text
			return updates
		}
	}
	return append(updates, Update{ID: id, Text: text})
}

// mergeSpans returns a and b together, sorted by Start.
func mergeSpans(a, b []Span) []Span {
	out := append(a, b...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && (out[j].Start < out[j-1].Start || out[j].Start == out[j-1].Start && out[j].End < out[j-1].End); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Reset forgets every earlier message, wiping the unredacted tails.
func (s *Stream) Reset() {
	for i := range s.parts {
		wipe(s.parts[i].tail)
	}
	s.parts = s.parts[:0]
}

// expire forgets the messages sent window or longer before now.
func (s *Stream) expire(now time.Time) {
	keep := 0
	for keep < len(s.parts) && now.Sub(s.parts[keep].at) >= s.window {
		wipe(s.parts[keep].tail)
		keep++
	}
	if keep > 0 {
		s.parts = append(s.parts[:0], s.parts[keep:]...)
	}
}

func wipe(b []byte) { clear(b) }

// leadingRun returns the length of the run of digits and separators that
// opens text (after blanks), or 0 if it holds no digit.
func leadingRun(text []byte) int {
	end, digits := 0, 0
	for i := 0; i < len(text) && i < maxTailBytes; {
		r, val, size := decode(text, i)
		if val < 0 && separatorClass(r) == sepNone {
			break
		}
		i += size
		if val >= 0 {
			digits++
			end = i
		}
	}
	if digits == 0 {
		return 0
	}
	return end
}

// onlySeparators reports whether text holds nothing but separators.
func onlySeparators(text []byte) bool {
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		if separatorClass(r) == sepNone {
			return false
		}
		i += size
	}
	return true
}

// trailingRun returns where the run of digits and separators that ends text
// (trailing blanks left out) begins and ends, at most maxTailBytes long;
// start == end if there is none.
func trailingRun(text []byte) (start, end int) {
	end = len(text)
	for end > 0 {
		r, size := utf8.DecodeLastRune(text[:end])
		if separatorClass(r) != sepSpace {
			break
		}
		end -= size
	}
	start = end
	for start > 0 && end-start < maxTailBytes {
		r, size := utf8.DecodeLastRune(text[:start])
		if r < utf8.RuneSelf && (r < '0' || r > '9') && separatorClass(r) == sepNone {
			break
		}
		if r >= utf8.RuneSelf {
			_, val, _ := decode(text, start-size)
			if val < 0 && separatorClass(r) == sepNone {
				break
			}
		}
		start -= size
	}
	// Start and end at a digit, and keep a tail only if it holds one.
	for start < end {
		_, val, size := decode(text, start)
		if val >= 0 {
			break
		}
		start += size
	}
	for end > start {
		r, size := utf8.DecodeLastRune(text[:end])
		if card.DigitValue(r) >= 0 {
			break
		}
		end -= size
	}
	return start, end
}
