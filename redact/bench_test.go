package redact

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/dlclark/regexp2"
)

// benchCard returns a Luhn-valid number of a common brand, written in one
// of the usual ways.
func benchCard(rng *rand.Rand) string {
	prefixes := []string{"4", "51", "55", "2221", "34", "37", "6011", "3528", "62"}
	p := prefixes[rng.Intn(len(prefixes))]
	n := 16
	if p == "34" || p == "37" {
		n = 15
	}
	num := luhnComplete(p+fmt.Sprint(rng.Intn(1000)), n)
	switch rng.Intn(3) {
	case 0:
		return num
	case 1:
		return writeGrouped(num, []int{4, 4, 4, 4}, " ")
	}
	return writeGrouped(num, []int{4, 4, 4, 4}, "-")
}

// chatText generates chat-like text: short lines with order numbers,
// dates, phones, times and amounts, about one card number per 2 KB.
func chatText(size int) []byte {
	rng := rand.New(rand.NewSource(1))
	lines := []func() string{
		func() string { return "Hi, I have a question about order #" + fmt.Sprint(10000000+rng.Intn(90000000)) },
		func() string {
			return fmt.Sprintf("It was delivered on 2024-%02d-%02d at %02d:%02d", 1+rng.Intn(12), 1+rng.Intn(28), rng.Intn(24), rng.Intn(60))
		},
		func() string {
			return fmt.Sprintf("You can call me at (555) %03d-%04d", rng.Intn(1000), rng.Intn(10000))
		},
		func() string {
			return fmt.Sprintf("The total was $%d.%02d, not $%d.%02d", rng.Intn(500), rng.Intn(100), rng.Intn(500), rng.Intn(100))
		},
		func() string { return "thanks, that helps a lot!" },
		func() string { return "Agent: let me check that for you, one moment please." },
		func() string { return "ok" },
		func() string { return fmt.Sprintf("Tracking says 1Z%06dA%08d", rng.Intn(1e6), rng.Intn(1e8)) },
	}
	var sb strings.Builder
	next := 2048
	for sb.Len() < size {
		if sb.Len() >= next {
			sb.WriteString("my card is " + benchCard(rng) + " exp 09/28\n")
			next += 2048
			continue
		}
		sb.WriteString(lines[rng.Intn(len(lines))]())
		sb.WriteByte('\n')
	}
	return []byte(sb.String()[:size])
}

// emailText generates email-like text: paragraphs of prose with the odd
// number, about one card number per 20 KB.
func emailText(size int) []byte {
	rng := rand.New(rand.NewSource(2))
	words := strings.Fields(`the customer service team would like to thank you for your patience while we
		review your account and the recent changes to your subscription we have processed a refund which
		should appear within business days please do not hesitate to contact us if you have any further
		questions regarding this matter kind regards`)
	var sb strings.Builder
	next := 20 << 10
	for sb.Len() < size {
		for i := 0; i < 60; i++ {
			sb.WriteString(words[rng.Intn(len(words))])
			if rng.Intn(40) == 0 {
				sb.WriteString(fmt.Sprintf(" %d", rng.Intn(2030)))
			}
			sb.WriteByte(' ')
		}
		if sb.Len() >= next {
			sb.WriteString("Please charge " + benchCard(rng) + ". ")
			next += 20 << 10
		}
		sb.WriteString("\n\n")
	}
	return []byte(sb.String()[:size])
}

// countDigits is the baseline: a plain byte loop over the input.
func countDigits(b []byte) int {
	n := 0
	for _, c := range b {
		if '0' <= c && c <= '9' {
			n++
		}
	}
	return n
}

var sink int

// baselineNsPerByte times countDigits on text in this run (best of several
// rounds of at least 20 ms), so a detector's figure can be reported as a
// ratio that holds on a noisy machine.
func baselineNsPerByte(text []byte) float64 {
	best := 0.0
	for round := 0; round < 5; round++ {
		start := time.Now()
		n := 0
		for time.Since(start) < 20*time.Millisecond {
			sink += countDigits(text)
			n++
		}
		perByte := float64(time.Since(start).Nanoseconds()) / float64(n) / float64(len(text))
		if best == 0 || perByte < best {
			best = perByte
		}
	}
	return best
}

// benchRedact benchmarks e on text and reports x-loop: the detector's
// throughput divided by the digit-counting loop's, measured in the same run.
func benchRedact(b *testing.B, e *Engine, text []byte) {
	base := baselineNsPerByte(text)
	dst := make([]byte, 0, len(text)+64)
	spans := make([]Span, 0, 1024)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		dst, spans, err = e.AppendRedact(dst[:0], text, spans[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perByte := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(len(text))
	b.ReportMetric(base/perByte, "x-loop")
}

func BenchmarkBaselineDigitLoop(b *testing.B) {
	for _, tc := range []struct {
		name string
		text []byte
	}{{"chat", chatText(1 << 20)}, {"email", emailText(1 << 20)}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.text)))
			for i := 0; i < b.N; i++ {
				sink += countDigits(tc.text)
			}
		})
	}
}

func BenchmarkDefault(b *testing.B) {
	e := mustNew(b, DefaultConfig())
	b.Run("chat", func(b *testing.B) { benchRedact(b, e, chatText(1<<20)) })
	b.Run("email", func(b *testing.B) { benchRedact(b, e, emailText(1<<20)) })
}

// BenchmarkMessage200 is one 200-byte chat message (ns/op is per message).
func BenchmarkMessage200(b *testing.B) {
	e := mustNew(b, DefaultConfig())
	msg := []byte("Hi, I'd like to pay the remaining $149.99 for order #10004567 placed on 2024-11-24; my card is 4111 1111 1111 1111, exp 09/28. Call me at (555) 010-0199 if needed, thanks!!")
	msg = append(msg, strings.Repeat(" ", 200-len(msg))...)
	benchRedact(b, e, msg)
}

// BenchmarkSSN compares the US SSN expression run by the engine (windowed)
// with regexp2 over the whole text.
func BenchmarkSSN(b *testing.B) {
	text := chatText(1 << 20)
	b.Run("engine", func(b *testing.B) {
		e := mustNew(b, Config{Additional: []string{ssnSearch}})
		benchRedact(b, e, text)
	})
	b.Run("engine+default", func(b *testing.B) {
		e := mustNew(b, Config{Default: true, Additional: []string{ssnSearch}})
		benchRedact(b, e, text)
	})
	b.Run("regexp2-whole-text", func(b *testing.B) {
		re := regexp2.MustCompile(ssnSearch, regexp2.None)
		s := string(text)
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m, err := re.FindStringMatch(s)
			for err == nil && m != nil {
				m, err = re.FindNextMatch(m)
			}
		}
	})
}
