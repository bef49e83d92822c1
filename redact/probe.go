package redact

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// ErrCatastrophic: an administrator expression backtracks catastrophically
// on an input built from its own structure.
var ErrCatastrophic = errors.New("backtracks catastrophically")

// probeLengths are the sizes of the probe inputs: short enough for an
// exponential expression ((a+)+$) to blow up, long enough for a cubic one.
var probeLengths = []int{32, 1024}

// probeCandidates are tried, in order, as the character that stands for a
// character class in a probe input.
const probeCandidates = "aA019 -._xz@#\t\néك٣"

// ProbeExpression runs an administrator expression (.NET syntax) on inputs
// built from its own structure — each character or literal it can consume,
// alone and in pairs, repeated, then followed by a character that makes the
// match fail — and returns an error wrapping ErrCatastrophic, naming the
// expression, if one input takes longer than budget, twice (the second time
// with ten budgets, so that a busy machine does not refuse a sound one). Nested quantifiers
// ((a+)+, (\d*)*) and overlapping alternatives ((a|aa)+) fail it.
// It is meant for loading a configuration, not for every text; the engine
// bounds every text with its time limit anyway.
func ProbeExpression(source string, budget time.Duration) error {
	x, err := compileExpression(1, source, budget)
	if err != nil {
		return err
	}
	re, err := regexp2.Compile(source, regexp2.None)
	if err != nil {
		return err
	}
	re.MatchTimeout = budget
	units := probeUnits(x)
	terminators := []string{"", "!", "\x00", " ", "\n"}
	terminators = append(terminators, units...)
	type pump struct {
		unit string
		ends []string
	}
	var pumps []pump
	for _, u := range units {
		pumps = append(pumps, pump{u, terminators})
	}
	for _, u := range units {
		for _, w := range units {
			if w != u {
				pumps = append(pumps, pump{u + w, terminators[1:3]})
			}
		}
	}
	for _, n := range probeLengths {
		for _, pu := range pumps {
			p := pu.unit
			body := strings.Repeat(p, max(1, n/len(p)))
			for _, t := range pu.ends {
				if err := probeOnce(re, body+t); err != nil && probeAgain(source, body+t, budget) != nil {
					return fmt.Errorf("redact: expression %q %w: an input of %d characters built from it (%q repeated) did not finish within %v",
						source, ErrCatastrophic, utf8.RuneCountInString(body+t), p, probeRetry*budget)
				}
			}
		}
	}
	return nil
}

// probeRetry is how many budgets an input that timed out gets on its second
// run: a busy machine may slow a sound expression down a few times over, a
// catastrophic one is slower by orders of magnitude.
const probeRetry = 10

// probeAttempts bounds the runs of an input that timed out: regexp2 reads
// time from a coarse clock of its own, which on a starved machine can report
// a time-out the wall clock does not show.
const probeAttempts = 3

// probeAgain runs the input that timed out again, with probeRetry budgets.
// It is catastrophic only if a run times out after the wall clock too saw
// the budget pass; a time-out sooner than that is the coarse clock's, and
// the input is run again, up to probeAttempts times.
func probeAgain(source, input string, budget time.Duration) error {
	re, err := regexp2.Compile(source, regexp2.None)
	if err != nil {
		return err
	}
	re.MatchTimeout = probeRetry * budget
	for range probeAttempts {
		start := time.Now()
		err = probeOnce(re, input)
		if err == nil || time.Since(start) >= re.MatchTimeout {
			return err
		}
	}
	return nil // every time-out came before its budget had passed
}

func probeOnce(re *regexp2.Regexp, input string) error {
	m, err := re.FindStringMatch(input)
	for err == nil && m != nil {
		m, err = re.FindNextMatch(m)
	}
	return err
}

// maxProbeUnits bounds the characters a probe combines in pairs.
const maxProbeUnits = 10

// probeUnits are the characters (and literal strings) the expression can
// consume, one representative a character class.
func probeUnits(x *expression) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if s != "" && !seen[s] && len(out) < maxProbeUnits {
			seen[s] = true
			out = append(out, s)
		}
	}
	for r := rune(0); r < utf8.RuneSelf && len(out) < maxProbeUnits; r++ {
		// One representative of each kind of ASCII character.
		if x.ascii[r] && strings.ContainsRune(probeCandidates, r) {
			add(string(r))
		}
	}
	for r := rune(0); r < utf8.RuneSelf && len(out) < maxProbeUnits/2; r++ {
		if x.ascii[r] && r >= ' ' {
			add(string(r))
		}
	}
	if x.nonASCII != nil {
		for _, r := range probeCandidates {
			if r >= utf8.RuneSelf && x.nonASCII(r) {
				add(string(r))
			}
		}
	}
	if len(out) == 0 {
		add("a")
	}
	return out
}
