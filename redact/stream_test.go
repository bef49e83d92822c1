package redact

import (
	"strings"
	"testing"
	"time"
)

func TestStreamJoinsSplitNumbers(t *testing.T) {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	type msg struct {
		text string
		gap  time.Duration // since the previous message
		want string        // its redacted text right after Push
	}
	cases := []struct {
		name    string
		msgs    []msg
		updates map[int64]string // final text of earlier messages that changed
	}{
		{
			name: "two halves",
			msgs: []msg{
				{text: "my card is 4111 1111", want: "my card is 4111 1111"},
				{text: "1111 1111", gap: 5 * time.Second, want: "#########"},
			},
			updates: map[int64]string{0: "my card is #########"},
		},
		{
			name: "three parts, trailing blanks and dots",
			msgs: []msg{
				{text: "card: 5555.5555 ", want: "card: 5555.5555 "},
				{text: "5555.", gap: time.Second, want: "5555."},
				{text: " 4444 thanks", gap: time.Second, want: " #### thanks"},
			},
			updates: map[int64]string{0: "card: ######### ", 1: "####."},
		},
		{
			name: "full-width digits",
			msgs: []msg{
				{text: "４１１１ １１１１ １１１１", want: "４１１１ １１１１ １１１１"},
				{text: "１１１１", gap: time.Second, want: "####"},
			},
			updates: map[int64]string{0: "##############"},
		},
		{
			name: "too far apart",
			msgs: []msg{
				{text: "my card is 4111 1111", want: "my card is 4111 1111"},
				{text: "1111 1111", gap: 60 * time.Second, want: "1111 1111"},
			},
		},
		{
			name: "not Luhn-valid together",
			msgs: []msg{
				{text: "order 4111 1111", want: "order 4111 1111"},
				{text: "1111 1112", gap: time.Second, want: "1111 1112"},
			},
		},
		{
			name: "words in between",
			msgs: []msg{
				{text: "4111 1111 is the start", want: "4111 1111 is the start"},
				{text: "1111 1111", gap: time.Second, want: "1111 1111"},
			},
		},
		{
			name: "whole card in one message stays its own",
			msgs: []msg{
				{text: "ref 12", want: "ref 12"},
				{text: "4111111111111111 ok", gap: time.Second, want: "################ ok"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStream(e, 0)
			at := t0
			final := map[int64]string{}
			for i, m := range tc.msgs {
				at = at.Add(m.gap)
				got, _, updates, err := s.Push(int64(i), at, []byte(m.text))
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if string(got) != m.want {
					t.Errorf("message %d = %q, want %q", i, got, m.want)
				}
				for _, u := range updates {
					final[u.ID] = u.Text
				}
			}
			if len(final) != len(tc.updates) {
				t.Errorf("updates = %v, want %v", final, tc.updates)
			}
			for id, want := range tc.updates {
				if final[id] != want {
					t.Errorf("update of message %d = %q, want %q", id, final[id], want)
				}
			}
		})
	}
}

func TestStreamFailsClosedAndForgets(t *testing.T) {
	e, err := New(Config{Default: true, Additional: []string{`(.+)+z`}, Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := NewStream(e, 0)
	now := time.Now()
	if _, _, _, err := s.Push(1, now, []byte("4111 1111")); err != nil {
		t.Fatal(err)
	}
	bad := "1111 1111 " + strings.Repeat("a", 40)
	got, _, updates, err := s.Push(2, now, []byte(bad))
	if err == nil {
		t.Fatal("Push of a text that times out returned no error")
	}
	if strings.ContainsAny(string(got), "1a") || len(updates) != 0 {
		t.Errorf("failed Push = %q, %v; want a fully masked text and no updates", got, updates)
	}
	if len(s.parts) != 0 {
		t.Errorf("stream kept %d earlier messages after a failure", len(s.parts))
	}
}

func TestStreamBoundsWhatItKeeps(t *testing.T) {
	e, _ := New(DefaultConfig())
	s := NewStream(e, 0)
	now := time.Now()
	for i := range 10 {
		s.Push(int64(i), now, []byte(strings.Repeat("1 ", 200)))
	}
	if len(s.parts) > maxStreamParts {
		t.Errorf("stream keeps %d messages, want at most %d", len(s.parts), maxStreamParts)
	}
	for _, p := range s.parts {
		if len(p.tail) > maxTailBytes {
			t.Errorf("tail of %d bytes, want at most %d", len(p.tail), maxTailBytes)
		}
	}
	tail := s.parts[len(s.parts)-1].tail
	s.Reset()
	if strings.Trim(string(tail), "\x00") != "" {
		t.Errorf("Reset left the tail %q in memory", tail)
	}
}
