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
				{text: "my card is 4111 1111", want: "my card is 4111 11##"},
				{text: "1111 1111", gap: 5 * time.Second, want: "#########"},
			},
			updates: map[int64]string{0: "my card is #########"},
		},
		{
			name: "three parts, trailing blanks and dots",
			msgs: []msg{
				{text: "card: 5555.5555 ", want: "card: 5555.55## "},
				{text: "5555.", gap: time.Second, want: "####."},
				{text: " 4444 thanks", gap: time.Second, want: " #### thanks"},
			},
			updates: map[int64]string{0: "card: ######### ", 1: "####."},
		},
		{
			name: "full-width digits",
			msgs: []msg{
				{text: "４１１１ １１１１ １１１１", want: "４１１１ １１## ####"},
				{text: "１１１１", gap: time.Second, want: "####"},
			},
			updates: map[int64]string{0: "##############"},
		},
		{
			name: "too far apart",
			msgs: []msg{
				{text: "my card is 4111 1111", want: "my card is 4111 11##"},
				{text: "1111 1111", gap: 60 * time.Second, want: "1111 11##"},
			},
		},
		{
			name: "not Luhn-valid together",
			msgs: []msg{
				{text: "order 4111 1111", want: "order 4111 11##"},
				{text: "1111 1112", gap: time.Second, want: "#### ####"},
			},
		},
		{
			name: "words in between",
			msgs: []msg{
				{text: "4111 1111 is the start", want: "4111 1111 is the start"},
				{text: "1111 1111", gap: time.Second, want: "1111 11##"},
			},
		},
		{
			name: "an order number is no card prefix",
			msgs: []msg{
				{text: "order number 12345678", want: "order number 12345678"},
				{text: "and 9", gap: time.Second, want: "and 9"},
			},
		},
		{
			name: "a code alone after the card",
			msgs: []msg{
				{text: "4111 1111 1111 1111 exp 12/27", want: "################### exp 12/27"},
				{text: "123", gap: time.Second, want: "###"},
				{text: "456", gap: time.Second, want: "456"},
			},
		},
		{
			name: "the expiry and the code after the card",
			msgs: []msg{
				{text: "4111 1111 1111 1111", want: "###################"},
				{text: "12/27 123", gap: time.Second, want: "12/27 ###"},
				{text: "12/27 456", gap: time.Second, want: "12/27 456"},
			},
		},
		{
			name: "an MMYY expiry and the code after the card",
			msgs: []msg{
				{text: "5555555555554444", want: "################"},
				{text: "exp 1227, 987!", gap: time.Second, want: "exp 1227, ###!"},
			},
		},
		{
			name: "a date and a number after the card are not its code",
			msgs: []msg{
				{text: "4111 1111 1111 1111", want: "###################"},
				{text: "12/27 123 items", gap: time.Second, want: "12/27 123 items"},
			},
		},
		{
			name: "the code in the message that completes the card",
			msgs: []msg{
				{text: "4111 1111 1111", want: "4111 11## ####"},
				{text: "1111, 12/27, 123", gap: time.Second, want: "####, 12/27, ###"},
			},
			updates: map[int64]string{0: "##############"},
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

// TestStreamShowsAtMostSixAndFour types cards over consecutive messages in
// every split at group boundaries (one group a message included) and checks
// that, across everything the agent receives (each message as sent and
// every update), no digit of the card beyond its first six and last four is
// ever shown.
func TestStreamShowsAtMostSixAndFour(t *testing.T) {
	e := mustNew(t, DefaultConfig())
	cards := []struct {
		number string
		sizes  []int
		sep    string
	}{
		{"6011111111111117", []int{4, 4, 4, 4}, " "},
		{"4111111111111111", []int{4, 4, 4, 4}, "-"},
		{"378282246310005", []int{4, 6, 5}, " "},
		{"5555555555554444", []int{4, 4, 4, 4}, "."},
		{"6011111111111117", []int{16}, ""},
		{"4111111111111111003", []int{4, 4, 4, 4, 3}, " "},
		{"4111111111111111", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, " "},
	}
	for _, c := range cards {
		var groups []string
		at := 0
		for _, n := range c.sizes {
			groups = append(groups, c.number[at:at+n])
			at += n
		}
		// Every way to cut the groups into consecutive messages.
		for mask := 0; mask < 1<<(len(groups)-1); mask++ {
			var msgs []string
			cur := groups[0]
			for k := 1; k < len(groups); k++ {
				if mask&(1<<(k-1)) != 0 {
					msgs = append(msgs, cur)
					cur = groups[k]
				} else {
					cur += c.sep + groups[k]
				}
			}
			msgs = append(msgs, cur)
			if len(msgs) == 1 && len(c.sizes) > 1 {
				continue
			}
			s := NewStream(e, 0)
			now := time.Unix(1000, 0)
			seen := make([]bool, len(c.number))
			digitAt := []int{} // message k, digit j → card position
			starts := []int{}
			for _, m := range msgs {
				starts = append(starts, len(digitAt))
				for _, r := range m {
					if r >= '0' && r <= '9' {
						digitAt = append(digitAt, len(digitAt))
					}
				}
			}
			show := func(k int, text string) {
				pos := starts[k]
				orig := []rune(msgs[k])
				for i, r := range []rune(text) {
					if orig[i] >= '0' && orig[i] <= '9' {
						if r == orig[i] {
							seen[pos] = true
						}
						pos++
					}
				}
			}
			for k, m := range msgs {
				got, _, updates, err := s.Push(int64(k), now, []byte(m))
				if err != nil {
					t.Fatal(err)
				}
				show(k, string(got))
				for _, u := range updates {
					show(int(u.ID), u.Text)
				}
				now = now.Add(5 * time.Second)
			}
			for pos, v := range seen {
				if v && pos >= 6 && pos < len(c.number)-4 {
					t.Errorf("messages %q: the agent saw digit %d of the card", msgs, pos+1)
					break
				}
			}
		}
	}
}
