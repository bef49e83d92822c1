package redact

import (
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzStream: a Stream never panics, keeps each message's shape (one
// character out for each character in), masks at least what the engine masks
// in the message alone, and its updates keep the shape of the earlier
// message.
func FuzzStream(f *testing.F) {
	f.Add("my card is 4111 1111", "1111 1111 thanks", "and 5555")
	f.Add("４１１１ １１１１ １１１１", "１１１１", "")
	f.Add("4111-1111-", "1111-1111", "x")
	f.Add("", "4111111111111111", "1")
	e, err := New(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		s := NewStream(e, 0)
		now := time.Unix(0, 0)
		sent := map[int64]string{}
		for i, m := range []string{a, b, c} {
			if !utf8.ValidString(m) {
				return
			}
			got, _, updates, err := s.Push(int64(i), now, []byte(m))
			if err != nil {
				t.Fatal(err)
			}
			if utf8.RuneCount(got) != utf8.RuneCountInString(m) {
				t.Fatalf("message %q came out as %q", m, got)
			}
			alone, _ := e.Redact(m)
			for k, r := range []rune(alone.Text) {
				if r == MaskChar && []rune(string(got))[k] != MaskChar {
					t.Fatalf("the stream unmasked %q (alone: %q)", got, alone.Text)
				}
			}
			sent[int64(i)] = m
			for _, u := range updates {
				orig, ok := sent[u.ID]
				if !ok || utf8.RuneCountInString(u.Text) != utf8.RuneCountInString(orig) {
					t.Fatalf("update %+v does not match message %q", u, orig)
				}
			}
		}
	})
}
