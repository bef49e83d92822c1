package redact

import "sync/atomic"

// ruleCounts counts, per rule, the spans an engine masked, and the texts it
// could not redact. Engines made by WithDisplay share them.
type ruleCounts struct {
	card, code, prefix atomic.Uint64
	exprs              []atomic.Uint64
	failed             atomic.Uint64
}

func newRuleCounts(exprs int) *ruleCounts {
	return &ruleCounts{exprs: make([]atomic.Uint64, exprs)}
}

// count adds spans to the counts.
func (e *Engine) count(spans []Span) {
	for _, s := range spans {
		switch s.Kind {
		case KindCard:
			e.counts.card.Add(1)
		case KindSecurityCode:
			e.counts.code.Add(1)
		case KindCardPrefix:
			e.counts.prefix.Add(1)
		default:
			for i, x := range e.exprs {
				if x.kind == s.Kind {
					e.counts.exprs[i].Add(1)
				}
			}
		}
	}
}

// RuleCount is how many matches one rule has masked.
type RuleCount struct {
	Rule  string // a Span.Kind: card, security_code, card_prefix, expr:N
	Count uint64
}

// Counts returns, for every rule of the engine, how many matches it has
// masked since the engine was made (every rule is listed, zero or not), and
// how many texts could not be redacted.
func (e *Engine) Counts() (rules []RuleCount, failed uint64) {
	if e.cards {
		rules = append(rules, RuleCount{KindCard, e.counts.card.Load()},
			RuleCount{KindSecurityCode, e.counts.code.Load()}, RuleCount{KindCardPrefix, e.counts.prefix.Load()})
	}
	for i, x := range e.exprs {
		rules = append(rules, RuleCount{x.kind, e.counts.exprs[i].Load()})
	}
	return rules, e.counts.failed.Load()
}

// Rules returns the distinct rules that fired in spans, in order of first
// appearance: what a transcript event records of a redaction (never the
// text).
func Rules(spans []Span) []string {
	var out []string
outer:
	for _, s := range spans {
		for _, r := range out {
			if r == s.Kind {
				continue outer
			}
		}
		out = append(out, s.Kind)
	}
	return out
}
