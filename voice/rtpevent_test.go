package voice

import (
	"errors"
	"slices"
	"sort"
	"testing"

	"github.com/pion/rtp"
)

const pt = 101

// eventPacket builds one RFC 4733 packet.
func eventPacket(seq uint16, ts uint32, event byte, end bool, duration uint16) []byte {
	e := byte(10) // volume
	if end {
		e |= 0x80
	}
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 0x1234, Marker: duration == 160},
		Payload: []byte{event, e, byte(duration >> 8), byte(duration)}}
	b, _ := p.Marshal()
	return b
}

// press returns the packets of one key press as a sender emits them:
// start, updates every 20 ms, and the end packet three times.
func press(seq *uint16, ts uint32, event byte, steps int) [][]byte {
	var out [][]byte
	for i := 1; i <= steps; i++ {
		out = append(out, eventPacket(*seq, ts, event, false, uint16(160*i)))
		*seq++
	}
	for range 3 {
		out = append(out, eventPacket(*seq, ts, event, true, uint16(160*(steps+1))))
		*seq++
	}
	return out
}

func keysOf(d *EventDecoder, pkts [][]byte) string {
	var got []Digit
	for _, p := range pkts {
		if dg, ok, _ := d.Feed(p); ok {
			got = append(got, dg)
		}
	}
	sort.SliceStable(got, func(i, j int) bool { return int32(got[i].Timestamp-got[j].Timestamp) < 0 })
	s := ""
	for _, g := range got {
		s += string(g.Key)
	}
	return s
}

func TestEventDecoder(t *testing.T) {
	seq := uint16(1)
	card := []byte{4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 11}
	var number [][][]byte
	ts := uint32(1000)
	for _, e := range card {
		number = append(number, press(&seq, ts, e, 4))
		ts += 1600
	}
	flat := func(groups [][][]byte) [][]byte { return slices.Concat(groups...) }

	cases := []struct {
		name string
		pkts [][]byte
		want string
	}{
		{"one press, end sent three times", press(&seq, 5000, 5, 5), "5"},
		{"a card number and #", flat(number), "4111111111111111#"},
		{"only the end packets", [][]byte{eventPacket(1, 100, 7, true, 800), eventPacket(2, 100, 7, true, 800), eventPacket(3, 100, 7, true, 800)}, "7"},
		{"only one update survives", [][]byte{eventPacket(2, 100, 9, false, 480)}, "9"},
		{"the same key twice", append(press(&seq, 100, 3, 3), press(&seq, 1700, 3, 3)...), "33"},
		{"events reordered", func() [][]byte {
			a, b := press(&seq, 100, 1, 3), press(&seq, 1700, 2, 3)
			return append(append([][]byte{}, b...), a...)
		}(), "12"},
		{"a late packet of an old event", append(press(&seq, 100, 1, 3), append(press(&seq, 1700, 2, 3), eventPacket(99, 100, 1, true, 640))...), "12"},
		{"a long press in segments", [][]byte{
			eventPacket(1, 100, 8, false, 65535), eventPacket(2, 100+65535, 8, false, 30000), eventPacket(3, 100+65535, 8, true, 40000),
		}, "8"},
		{"timestamps wrap", append(press(&seq, 0xFFFFFF00, 4, 2), press(&seq, 0x00000100, 2, 2)...), "42"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &EventDecoder{PayloadType: pt}
			if got := keysOf(d, tc.pkts); got != tc.want {
				t.Errorf("keys %q, want %q (stats %+v)", got, tc.want, d.Stats)
			}
		})
	}
}

func TestEventDecoderBadPackets(t *testing.T) {
	d := &EventDecoder{PayloadType: pt}
	good := eventPacket(1, 100, 1, false, 160)
	v1 := append([]byte{}, good...)
	v1[0] = v1[0]&0x3f | 1<<6
	audio := append([]byte{}, good...)
	audio[1] = 0 // PCMU
	for name, c := range map[string]struct {
		pkt  []byte
		want error
	}{
		"empty":         {nil, ErrMalformed},
		"short header":  {good[:5], ErrMalformed},
		"short payload": {good[:14], ErrMalformed},
		"version 1":     {v1, ErrMalformed},
		"audio":         {audio, ErrPayloadType},
	} {
		if _, ok, err := d.Feed(c.pkt); ok || !errors.Is(err, c.want) {
			t.Errorf("%s: ok %v err %v, want %v", name, ok, err, c.want)
		}
	}
	if d.Stats.Malformed != 4 || d.Stats.WrongType != 1 || d.Stats.Packets != 5 {
		t.Errorf("stats %+v", d.Stats)
	}
	// A non-DTMF event (e.g. 32, a fax tone) is ignored.
	p := eventPacket(1, 100, 32, false, 160)
	if _, ok, err := d.Feed(p); ok || err != nil || d.Stats.Ignored != 1 {
		t.Errorf("event 32: ok %v err %v", ok, err)
	}
}

func BenchmarkEventDecoder(b *testing.B) {
	seq := uint16(1)
	var pkts [][]byte
	ts := uint32(0)
	for i := range 64 {
		pkts = append(pkts, press(&seq, ts, byte(i%12), 4)...)
		ts += 1600
	}
	d := &EventDecoder{PayloadType: pt}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Feed(pkts[i%len(pkts)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

func FuzzEventDecoder(f *testing.F) {
	f.Add(eventPacket(1, 100, 1, true, 800))
	f.Add([]byte{0x80, 101, 0, 1, 0, 0, 0, 100, 0, 0, 0x12, 0x34, 1, 0x80, 0, 0})
	f.Add([]byte{0xA0, 101, 0, 1, 0, 0, 0, 100, 0, 0, 0x12, 0x34, 1, 0x80, 0, 0, 0, 0, 9})
	d := &EventDecoder{PayloadType: pt}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		before := d.Stats.Digits
		dg, ok, err := d.Feed(pkt)
		if ok && (err != nil || d.Stats.Digits != before+1 || !slices.Contains([]byte(keys), dg.Key)) {
			t.Fatalf("digit %+v ok %v err %v", dg, ok, err)
		}
	})
}
