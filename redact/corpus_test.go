package redact

import (
	"os"
	"strings"
	"testing"

	"github.com/secureinput/gateway/card"
)

// labelled is one corpus record: the text and the spans a perfect redactor
// finds in it.
type labelled struct {
	text  string
	spans [][2]int
}

// readCorpus reads testdata/corpus.txt: records separated by lines "%%",
// card numbers written [[like this]].
func readCorpus(tb testing.TB) []labelled {
	tb.Helper()
	raw, err := os.ReadFile("testdata/corpus.txt")
	if err != nil {
		tb.Fatal(err)
	}
	var out []labelled
	for _, rec := range strings.Split(string(raw), "\n%%\n") {
		var l labelled
		var sb strings.Builder
		for {
			i := strings.Index(rec, "[[")
			if i < 0 {
				break
			}
			j := strings.Index(rec[i:], "]]")
			if j < 0 {
				tb.Fatalf("unclosed [[ in record %q", rec)
			}
			sb.WriteString(rec[:i])
			start := sb.Len()
			sb.WriteString(rec[i+2 : i+j])
			l.spans = append(l.spans, [2]int{start, sb.Len()})
			rec = rec[i+j+2:]
		}
		sb.WriteString(rec)
		l.text = sb.String()
		out = append(out, l)
	}
	return out
}

// TestCorpusRecallPrecision measures the default detector on the labelled
// corpus of chat and email texts. A found span counts only if it equals a
// labelled one exactly.
func TestCorpusRecallPrecision(t *testing.T) {
	e := mustNew(t, DefaultConfig())
	corpus := readCorpus(t)
	tp, fp, fn, codes, cvvs := 0, 0, 0, 0, 0
	for _, rec := range corpus {
		r, err := e.Redact(rec.text)
		if err != nil {
			t.Fatal(err)
		}
		// Every "cvv NNN" of the corpus follows its card: it must be masked.
		if i := strings.Index(rec.text, "cvv "); i >= 0 {
			cvvs++
			code := strings.FieldsFunc(rec.text[i+4:], func(r rune) bool { return card.DigitValue(r) < 0 })[0]
			if strings.Contains(r.Text, "cvv "+code) {
				t.Errorf("security code left visible in %q", r.Text)
			}
		}
		want := map[[2]int]bool{}
		for _, s := range rec.spans {
			want[s] = true
		}
		got := map[[2]int]bool{}
		for _, s := range r.Spans {
			if s.Kind == KindSecurityCode {
				codes++
				continue
			}
			k := [2]int{s.Start, s.End}
			got[k] = true
			if want[k] {
				tp++
			} else {
				fp++
				t.Logf("false positive %q in %q", rec.text[s.Start:s.End], rec.text)
			}
		}
		for s := range want {
			if !got[s] {
				fn++
				t.Logf("missed %q in %q", rec.text[s[0]:s[1]], rec.text)
			}
		}
	}
	if tp+fn == 0 {
		t.Fatal("corpus has no labelled card")
	}
	recall := float64(tp) / float64(tp+fn)
	precision := 1.0
	if tp+fp > 0 {
		precision = float64(tp) / float64(tp+fp)
	}
	t.Logf("corpus: %d records, %d labelled cards: recall %.4f, precision %.4f (tp %d, fp %d, fn %d)",
		len(corpus), tp+fn, recall, precision, tp, fp, fn)
	t.Logf("security codes: %d masked, %d written after cvv", codes, cvvs)
	if codes != cvvs {
		t.Errorf("%d security codes masked, want the corpus's %d", codes, cvvs)
	}
	if recall < 0.99 || precision < 0.99 {
		t.Errorf("recall %.4f, precision %.4f; both must be >= 0.99", recall, precision)
	}
}
