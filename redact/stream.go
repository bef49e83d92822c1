package redact

import (
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
	maxStreamParts = 4
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
type Stream struct {
	engine *Engine
	window time.Duration
	parts  []streamPart // oldest first
}

type streamPart struct {
	id       int64
	at       time.Time
	redacted []byte // what the transcript holds for this message now
	tail     []byte // unredacted run of digits and separators near its end
	after    int    // bytes after the tail (trailing blanks)
	whole    bool   // the message is nothing but that run
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

// Push redacts text, the message the caller calls id, sent at at. It returns
// the redacted text and its spans, and an Update for every earlier message of
// the stream whose end, together with the start of text, forms a number that
// must be masked. If redaction fails, Push returns the fully masked text and
// the error, and forgets the earlier messages; the caller withholds text.
func (s *Stream) Push(id int64, at time.Time, text []byte) (redacted []byte, spans []Span, updates []Update, err error) {
	redacted, spans, err = s.engine.AppendRedact(nil, text, nil)
	if err != nil {
		s.Reset()
		return redacted, nil, nil, err
	}
	s.expire(at)

	lead := leadingRun(text)
	if lead > 0 && len(s.parts) > 0 {
		var more []Span
		more, updates, err = s.join(text[:lead])
		if err != nil {
			s.Reset()
			return MaskAll(nil, text), nil, nil, err
		}
		if len(more) > 0 {
			spans = mergeSpans(spans, more)
			redacted = Mask(redacted[:0], text, spans)
		}
	}

	p := streamPart{id: id, at: at, redacted: redacted}
	start, end := trailingRun(text)
	if len(spans) > 0 && spans[len(spans)-1].End > start {
		start = spans[len(spans)-1].End
	}
	if start < end {
		p.tail = append([]byte(nil), text[start:end]...)
		p.after = len(text) - end
		p.whole = onlySeparators(text[:start])
	}
	s.parts = append(s.parts, p)
	if len(s.parts) > maxStreamParts {
		wipe(s.parts[0].tail)
		s.parts = append(s.parts[:0], s.parts[1:]...)
	}
	return redacted, spans, updates, nil
}

// join looks for a number that starts in the tails of earlier messages and
// continues into lead, the leading run of the new message. It returns the
// spans to add to the new message and the updates to earlier ones.
func (s *Stream) join(lead []byte) ([]Span, []Update, error) {
	// The chain: the latest message's tail, and before it the tails of
	// messages that consist of nothing but their tail.
	first := len(s.parts) - 1
	if len(s.parts[first].tail) == 0 {
		return nil, nil, nil
	}
	for first > 0 && s.parts[first].whole && len(s.parts[first-1].tail) > 0 {
		first--
	}
	var joined []byte
	offsets := make([]int, 0, len(s.parts)-first+1)
	for _, p := range s.parts[first:] {
		offsets = append(offsets, len(joined))
		joined = append(joined, p.tail...)
		joined = append(joined, ' ')
	}
	leadAt := len(joined)
	joined = append(joined, lead...)
	defer wipe(joined)

	found, err := s.engine.Find(joined, nil)
	if err != nil {
		return nil, nil, err
	}
	firstDigit := 0
	for firstDigit < len(lead) {
		_, val, size := decode(lead, firstDigit)
		if val >= 0 {
			break
		}
		firstDigit += size
	}
	var more []Span
	var updates []Update
	for _, sp := range found {
		if sp.Start >= leadAt || sp.End <= leadAt {
			continue // wholly in one message: already handled there
		}
		more = append(more, Span{Start: firstDigit, End: sp.End - leadAt, Kind: sp.Kind})
		for k, p := range s.parts[first:] {
			from, to := max(sp.Start, offsets[k]), min(sp.End, offsets[k]+len(p.tail))
			if from >= to {
				continue
			}
			// Nothing from the tail on is masked, so the tail and what follows
			// it end the redacted text unchanged.
			base := len(p.redacted) - len(p.tail) - p.after
			tailSpan := []Span{{Start: from - offsets[k], End: to - offsets[k], Kind: sp.Kind}}
			rest := p.redacted[base+len(p.tail):]
			redacted := Mask(append([]byte(nil), p.redacted[:base]...), p.tail, tailSpan)
			pp := &s.parts[first+k]
			pp.redacted = append(redacted, rest...)
			wipe(pp.tail)
			pp.tail = nil
			updates = appendUpdate(updates, pp.id, string(pp.redacted))
		}
	}
	return more, updates, nil
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
