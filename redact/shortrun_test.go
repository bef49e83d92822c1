package redact

import (
	"math/rand"
	"slices"
	"testing"
)

// findCardsFull is findCards without the short-run shortcut: every run goes
// through cardScanner.run.
func findCardsFull(text []byte) []Span { return scanCards(text, nil, false) }

// TestShortRunShortcutChangesNothing: on random texts dense in digits and
// separators (with cards and IBANs planted among them), and on the labelled
// corpus, the scanner finds the same cards with and without the shortcut.
func TestShortRunShortcutChangesNothing(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	ibans := []string{"GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432", "NL91ABNA0417164300",
		"DE89 3704 0044 0532 0130 00", "FR14 2004 1010 0505 0001 3M02 606", "CH9300762011623852957"}
	alphabet := []string{"0", "1", "4", "5", "9", " ", " ", "-", ".", "a", "+", "\u00a0", "４", "\u200b", "\n", "  ", "/", ",", "_", "\t", "cvv ", "+"}
	var texts [][]byte
	for range 20000 {
		var b []byte
		for range rng.Intn(60) {
			b = append(b, alphabet[rng.Intn(len(alphabet))]...)
		}
		// Plant a card now and then so long runs occur, and IBANs whose
		// digits after the country code are a short run or a long one.
		if rng.Intn(4) == 0 {
			b = append(b, []byte(" 4111 1111 1111 1111")...)
			b = append(b, alphabet[rng.Intn(len(alphabet))]...)
		}
		if rng.Intn(8) == 0 {
			b = append(b, ibans[rng.Intn(len(ibans))]...)
			b = append(b, alphabet[rng.Intn(len(alphabet))]...)
		}
		texts = append(texts, b)
	}
	for _, c := range readCorpus(t) {
		texts = append(texts, []byte(c.text))
	}
	for _, text := range texts {
		got := findCards(text, nil)
		want := findCardsFull(text)
		if !slices.Equal(got, want) {
			t.Fatalf("text %q: with the shortcut %v, without %v", text, got, want)
		}
	}
}
