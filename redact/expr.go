package redact

import (
	"container/heap"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"github.com/dlclark/regexp2/syntax"

	"github.com/secureinput/gateway/card"
)

// An administrator expression runs through regexp2, which converts its input
// to runes (4 bytes per input byte) and runs a backtracking matcher: far too
// slow to run over every byte of every text. So each expression is analysed
// once, from regexp2's own compiled program:
//
//   - its alphabet: every character any instruction can consume, lookarounds
//     included. A match consumes only alphabet characters, so it lies inside
//     one maximal run of them;
//   - lower bounds on the length of a match and on the number of decimal
//     digits it consumes (lookaround bodies count zero), so runs shorter than
//     that, or with fewer digits (a date "2024-11-24" for an SSN expression),
//     are skipped.
//
// Each run long enough is matched on its own: regexp2 gets the run plus two
// characters of context on each side and starts searching at the run. The
// context makes \b, ^, $, \A, \z and lookarounds see what they would see in
// the whole text: to look past the first non-alphabet character an
// instruction would have to consume it, and with two context characters
// neither ^ nor $ can hold at a window edge that is not a text edge. The
// spans are therefore those regexp2 finds over the whole text, which
// FuzzExpressionWindows checks. Expressions whose analysis fails (\G,
// right-to-left) run over the whole text.

// contextRunes is how many characters of context a window has on each side.
const contextRunes = 2

// expression is one compiled administrator expression.
type expression struct {
	kind   string
	source string
	re     *regexp2.Regexp

	windowed  bool
	ascii     [utf8.RuneSelf]bool // alphabet, ASCII part
	nonASCII  func(rune) bool     // alphabet, the rest; nil if empty
	minLen    int                 // lower bound of a match's length in runes
	minDigits int                 // lower bound of the decimal digits a match consumes
}

// errNotWindowable explains why an expression runs over whole texts.
var errNotWindowable = errors.New("not windowable")

func compileExpression(index int, source string, timeout time.Duration) (*expression, error) {
	if source == "" {
		return nil, fmt.Errorf("redact: expression %d is empty", index)
	}
	re, err := regexp2.Compile(source, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("redact: expression %d %q: %w", index, source, err)
	}
	re.MatchTimeout = timeout
	x := &expression{kind: fmt.Sprintf("expr:%d", index), source: source, re: re}
	if err := x.analyse(); err == nil {
		x.windowed = true
	}
	return x, nil
}

// consumer is one instruction that consumes a character.
type consumer struct {
	set  *syntax.CharSet
	ch   rune
	not  bool // matches every character but ch
	fold bool // case-insensitive
}

func (c consumer) matches(r rune) bool {
	if c.set != nil {
		return c.set.CharIn(r)
	}
	return (r == c.ch) != c.not
}

// digitOnlySet matches the printed form of a regexp2 character set that
// holds nothing but decimal digits: \d prints as [\p{Nd}], [0-6] as is.
var digitOnlySet = regexp.MustCompile(`^\[(?:\\p\{Nd\}|[0-9]-[0-9]|[0-9])+\]$`)

// digitOnly returns 1 if every character c can consume is a decimal digit.
func (c consumer) digitOnly() int {
	switch {
	case c.set != nil && digitOnlySet.MatchString(c.set.String()):
		return 1
	case c.set == nil && !c.not && '0' <= c.ch && c.ch <= '9':
		return 1
	}
	return 0
}

// analyse fills in the alphabet and the minimum length from regexp2's
// compiled program, or returns errNotWindowable.
func (x *expression) analyse() error {
	tree, err := syntax.Parse(x.source, syntax.RegexOptions(regexp2.None))
	if err != nil {
		return err
	}
	code, err := syntax.Write(tree)
	if err != nil {
		return err
	}
	if code.RightToLeft {
		return errNotWindowable
	}
	codes := code.Codes
	var consumers []consumer
	foldAll := false
	next := make([][]flowEdge, len(codes)+1)
	depth := 0
	balanced := true
	for pc := 0; pc < len(codes); {
		op := syntax.InstOp(codes[pc])
		base := op & syntax.Mask
		ci := op&syntax.Ci != 0
		size, weight, digits := 0, 0, 0
		var jump = -1
		switch base {
		case syntax.One, syntax.Notone:
			size, weight = 2, 1
			c := consumer{ch: rune(codes[pc+1]), not: base == syntax.Notone, fold: ci}
			consumers = append(consumers, c)
			digits = c.digitOnly()
		case syntax.Set:
			size, weight = 2, 1
			c := consumer{set: code.Sets[codes[pc+1]], fold: ci}
			consumers = append(consumers, c)
			digits = c.digitOnly()
		case syntax.Multi:
			size = 2
			s := code.Strings[codes[pc+1]]
			weight = len(s)
			for _, r := range s {
				c := consumer{ch: r, fold: ci}
				consumers = append(consumers, c)
				digits += c.digitOnly()
			}
		case syntax.Onerep, syntax.Notonerep, syntax.Oneloop, syntax.Notoneloop, syntax.Onelazy, syntax.Notonelazy:
			size = 3
			not := base == syntax.Notonerep || base == syntax.Notoneloop || base == syntax.Notonelazy
			c := consumer{ch: rune(codes[pc+1]), not: not, fold: ci}
			consumers = append(consumers, c)
			if base == syntax.Onerep || base == syntax.Notonerep {
				weight = codes[pc+2]
				digits = weight * c.digitOnly()
			}
		case syntax.Setrep, syntax.Setloop, syntax.Setlazy:
			size = 3
			c := consumer{set: code.Sets[codes[pc+1]], fold: ci}
			consumers = append(consumers, c)
			if base == syntax.Setrep {
				weight = codes[pc+2]
				digits = weight * c.digitOnly()
			}
		case syntax.Ref:
			size = 2
			// A case-insensitive back reference may match a case variant of
			// what its group captured.
			foldAll = foldAll || ci
		case syntax.Start:
			return errNotWindowable // \G depends on where the search began
		case syntax.Bol, syntax.Eol, syntax.Boundary, syntax.Nonboundary, syntax.ECMABoundary,
			syntax.NonECMABoundary, syntax.Beginning, syntax.EndZ, syntax.End,
			syntax.Nullmark, syntax.Setmark, syntax.Getmark:
			size = 1
		case syntax.Setjump:
			size = 1
			depth++
		case syntax.Forejump:
			size = 1
			depth--
			balanced = balanced && depth >= 0
		case syntax.Nothing, syntax.Backjump, syntax.Stop:
			size = 1
		case syntax.Lazybranch, syntax.Branchmark, syntax.Lazybranchmark:
			size, jump = 2, codes[pc+1]
		case syntax.Goto:
			size, jump = 2, codes[pc+1]
		case syntax.Branchcount, syntax.Lazybranchcount:
			size, jump = 3, codes[pc+1]
		case syntax.Nullcount, syntax.Setcount, syntax.Testref, syntax.Prune:
			size = 2
		case syntax.Capturemark:
			size = 3
		default:
			return fmt.Errorf("%w: opcode %d", errNotWindowable, base)
		}
		if depth > 0 {
			weight, digits = 0, 0 // inside a lookaround or atomic group: a lower bound
		}
		// The program opens with a Lazybranch to Stop, the exit taken when
		// nothing matches; only its fall-through leads to a match.
		if jump >= 0 && pc != 0 {
			next[pc] = append(next[pc], flowEdge{jump, 0, 0})
		}
		switch base {
		case syntax.Goto, syntax.Nothing, syntax.Backjump, syntax.Stop:
		default:
			next[pc] = append(next[pc], flowEdge{pc + size, weight, digits})
		}
		pc += size
	}

	inAlphabet := func(r rune) bool {
		for _, c := range consumers {
			if c.matches(r) {
				return true
			}
			if c.fold || foldAll {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					if c.matches(f) {
						return true
					}
				}
			}
		}
		return false
	}
	for r := rune(0); r < utf8.RuneSelf; r++ {
		x.ascii[r] = inAlphabet(r)
	}
	if nonASCIIPossible(consumers) {
		x.nonASCII = inAlphabet
	}

	if balanced && depth == 0 {
		// The program ends with its Stop instruction.
		stop := len(codes) - 1
		x.minLen = shortestPath(next, stop, func(e flowEdge) int { return e.weight })
		x.minDigits = shortestPath(next, stop, func(e flowEdge) int { return e.digits })
	}
	return nil
}

// nonASCIIPossible reports whether some consumer may match a rune outside
// ASCII. Case folding maps only K and S outside ASCII (Kelvin sign, long s),
// which a consumer with fold matching 'k' or 's' covers.
func nonASCIIPossible(consumers []consumer) bool {
	for _, c := range consumers {
		switch {
		case c.set != nil, c.not, c.ch >= utf8.RuneSelf, c.fold:
			return true
		}
	}
	return false
}

// flowEdge is one control-flow edge of a regexp2 program, with the
// characters and the decimal digits an instruction consumes on it.
type flowEdge struct{ to, weight, digits int }

// shortestPath returns the least total weight(e) from instruction 0 to stop
// (Dijkstra over the program's control flow), or 0 if stop is unreachable.
func shortestPath(next [][]flowEdge, stop int, weight func(flowEdge) int) int {
	dist := make([]int, len(next))
	for i := range dist {
		dist[i] = -1
	}
	pq := &pcQueue{{0, 0}}
	dist[0] = 0
	for pq.Len() > 0 {
		it := heap.Pop(pq).(pcItem)
		if it.dist > dist[it.pc] {
			continue
		}
		if it.pc == stop {
			return it.dist
		}
		for _, e := range next[it.pc] {
			if e.to < 0 || e.to >= len(next) {
				continue
			}
			if d := it.dist + weight(e); dist[e.to] < 0 || d < dist[e.to] {
				dist[e.to] = d
				heap.Push(pq, pcItem{e.to, d})
			}
		}
	}
	return 0
}

type pcItem struct{ pc, dist int }
type pcQueue []pcItem

func (q pcQueue) Len() int           { return len(q) }
func (q pcQueue) Less(i, j int) bool { return q[i].dist < q[j].dist }
func (q pcQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *pcQueue) Push(x any)        { *q = append(*q, x.(pcItem)) }
func (q *pcQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

// inAlphabet reports whether the rune at text[i] belongs to the alphabet,
// and its size.
func (x *expression) inAlphabet(text []byte, i int) (bool, int) {
	c := text[i]
	if c < utf8.RuneSelf {
		return x.ascii[c], 1
	}
	if x.nonASCII == nil {
		// Skip the whole UTF-8 sequence without decoding.
		size := 1
		for i+size < len(text) && size < utf8.UTFMax && !utf8.RuneStart(text[i+size]) {
			size++
		}
		return false, size
	}
	r, size := utf8.DecodeRune(text[i:])
	return x.nonASCII(r), size
}

// runeBuffer holds a window converted to runes and each rune's byte offset
// (one more entry than runes: the window's end).
type runeBuffer struct {
	runes   []rune
	offsets []int
}

var runeBuffers = sync.Pool{New: func() any { return new(runeBuffer) }}

// fill converts text[start:end] and records offsets.
func (b *runeBuffer) fill(text []byte, start, end int) {
	b.runes, b.offsets = b.runes[:0], b.offsets[:0]
	for i := start; i < end; {
		r, size := utf8.DecodeRune(text[i:])
		b.runes = append(b.runes, r)
		b.offsets = append(b.offsets, i)
		i += size
	}
	b.offsets = append(b.offsets, end)
}

// find appends the expression's matches in text to spans. deadline bounds
// the whole text; each regexp2 call is also bounded by its MatchTimeout.
func (x *expression) find(text []byte, spans []Span, deadline time.Time) ([]Span, error) {
	buf := runeBuffers.Get().(*runeBuffer)
	defer runeBuffers.Put(buf)
	if !x.windowed {
		return x.match(text, 0, len(text), 0, len(text), spans, buf)
	}
	n := len(text)
	for i := 0; i < n; {
		if c := text[i]; c < utf8.RuneSelf {
			if !x.ascii[c] {
				i++
				continue
			}
		} else if in, size := x.inAlphabet(text, i); !in {
			i += size
			continue
		}
		start, count, digits := i, 0, 0
		for i < n {
			c := text[i]
			if c < utf8.RuneSelf {
				if !x.ascii[c] {
					break
				}
				if '0' <= c && c <= '9' {
					digits++
				}
				i++
				count++
				continue
			}
			in, size := x.inAlphabet(text, i)
			if !in {
				break
			}
			if x.minDigits > 0 {
				if r, _ := utf8.DecodeRune(text[i:]); card.DigitValue(r) >= 0 {
					digits++
				}
			}
			i += size
			count++
		}
		if count < x.minLen || digits < x.minDigits {
			continue
		}
		if time.Now().After(deadline) {
			return spans, fmt.Errorf("redact: %s %q: %w", x.kind, x.source, ErrTimeout)
		}
		var err error
		spans, err = x.match(text, backRunes(text, start, contextRunes), forwardRunes(text, i, contextRunes), start, i, spans, buf)
		if err != nil {
			return spans, err
		}
	}
	return spans, nil
}

// match runs regexp2 over text[wStart:wEnd], searching from coreStart and
// keeping the non-empty matches that begin before coreEnd.
func (x *expression) match(text []byte, wStart, wEnd, coreStart, coreEnd int, spans []Span, buf *runeBuffer) ([]Span, error) {
	buf.fill(text, wStart, wEnd)
	startIdx := 0
	for startIdx < len(buf.runes) && buf.offsets[startIdx] < coreStart {
		startIdx++
	}
	m, err := x.re.FindRunesMatchStartingAt(buf.runes, startIdx)
	for err == nil && m != nil {
		if buf.offsets[m.Index] >= coreEnd && m.Length > 0 {
			break
		}
		if m.Length > 0 {
			spans = append(spans, Span{Start: buf.offsets[m.Index], End: buf.offsets[m.Index+m.Length], Kind: x.kind})
		}
		m, err = x.re.FindNextMatch(m)
	}
	if err != nil {
		// regexp2's own message quotes the input ("… on input `…`"): it must
		// never reach an error, a log line or a JSONL error field.
		return spans, fmt.Errorf("redact: %s %q: %w", x.kind, x.source, ErrTimeout)
	}
	return spans, nil
}

// backRunes returns the offset k runes before i (or 0).
func backRunes(text []byte, i, k int) int {
	for ; k > 0 && i > 0; k-- {
		_, size := utf8.DecodeLastRune(text[:i])
		i -= size
	}
	return i
}

// forwardRunes returns the offset k runes after i (or len(text)).
func forwardRunes(text []byte, i, k int) int {
	for ; k > 0 && i < len(text); k-- {
		_, size := utf8.DecodeRune(text[i:])
		i += size
	}
	return i
}
