package voice

import (
	"errors"

	"github.com/pion/rtp"
)

// Errors of EventDecoder.Feed. A packet that fails is dropped and counted.
var (
	ErrMalformed   = errors.New("voice: malformed RTP packet")
	ErrPayloadType = errors.New("voice: not a telephone-event packet")
)

// keys maps RFC 4733 event codes 0–15 to keys.
const keys = "0123456789*#ABCD"

// Digit is one key press.
type Digit struct {
	Key       byte   // '0'–'9', '*', '#', 'A'–'D'
	Timestamp uint32 // RTP timestamp of the event: orders digits even if packets were reordered
}

// DecoderStats counts what a decoder saw.
type DecoderStats struct {
	Packets    uint64 // every packet fed
	Malformed  uint64 // too short, wrong version, bad payload
	WrongType  uint64 // another payload type
	Duplicates uint64 // updates, retransmitted end packets, late packets of a known event
	Ignored    uint64 // events other than DTMF keys
	Digits     uint64
}

// seenSize is how many recent events a decoder remembers, so that late
// packets of an event already reported are not a new key press.
const seenSize = 16

// EventDecoder turns the telephone-event packets of one RTP stream into key
// presses. A key press is reported on the first packet of its event that
// arrives, whichever it is (start, update or one of the three end packets),
// and never again; a long press that the sender splits into segments is
// one key press. It allocates nothing per packet. Not safe for concurrent
// use: one decoder a stream.
type EventDecoder struct {
	// PayloadType is the dynamic payload type negotiated for
	// telephone-event (often 101).
	PayloadType uint8
	Stats       DecoderStats

	hdr      rtp.Header
	ssrc     uint32
	started  bool
	seen     [seenSize]uint32
	nseen    int
	next     int
	last     Digit
	lastDur  uint16
	lastEnd  bool
	haveLast bool
}

// Feed decodes one packet. It returns the digit and true if the packet
// starts a key press not reported before.
func (d *EventDecoder) Feed(pkt []byte) (Digit, bool, error) {
	d.Stats.Packets++
	n, err := d.hdr.Unmarshal(pkt)
	if err != nil || d.hdr.Version != 2 {
		d.Stats.Malformed++
		return Digit{}, false, ErrMalformed
	}
	if d.hdr.PayloadType != d.PayloadType {
		d.Stats.WrongType++
		return Digit{}, false, ErrPayloadType
	}
	payload := pkt[n:]
	if d.hdr.Padding && len(payload) > 0 {
		pad := int(payload[len(payload)-1])
		if pad > len(payload) {
			d.Stats.Malformed++
			return Digit{}, false, ErrMalformed
		}
		payload = payload[:len(payload)-pad]
	}
	if len(payload) < 4 {
		d.Stats.Malformed++
		return Digit{}, false, ErrMalformed
	}
	event := payload[0]
	end := payload[1]&0x80 != 0
	duration := uint16(payload[2])<<8 | uint16(payload[3])
	if event >= uint8(len(keys)) {
		d.Stats.Ignored++
		return Digit{}, false, nil
	}
	if !d.started || d.hdr.SSRC != d.ssrc {
		d.reset(d.hdr.SSRC)
	}
	ts := d.hdr.Timestamp
	key := keys[event]
	if d.haveLast && ts == d.last.Timestamp {
		d.lastDur = max(d.lastDur, duration)
		d.lastEnd = d.lastEnd || end
		d.Stats.Duplicates++
		return Digit{}, false, nil
	}
	if d.known(ts) {
		d.Stats.Duplicates++
		return Digit{}, false, nil
	}
	// A long press is sent as segments: same key, no end yet, the new
	// segment starting where the last one's duration reached.
	if d.haveLast && !d.lastEnd && key == d.last.Key && ts == d.last.Timestamp+uint32(d.lastDur) {
		d.remember(ts)
		d.last.Timestamp, d.lastDur, d.lastEnd = ts, duration, end
		d.Stats.Duplicates++
		return Digit{}, false, nil
	}
	d.remember(ts)
	dg := Digit{Key: key, Timestamp: ts}
	// Only move "last" forward: a late packet of an older event is still a
	// key press, but does not become the event segments continue from.
	if !d.haveLast || int32(ts-d.last.Timestamp) > 0 {
		d.last, d.lastDur, d.lastEnd, d.haveLast = dg, duration, end, true
	}
	d.Stats.Digits++
	return dg, true, nil
}

func (d *EventDecoder) reset(ssrc uint32) {
	d.ssrc, d.started = ssrc, true
	d.nseen, d.next, d.haveLast = 0, 0, false
}

func (d *EventDecoder) known(ts uint32) bool {
	for i := 0; i < d.nseen; i++ {
		if d.seen[i] == ts {
			return true
		}
	}
	return false
}

func (d *EventDecoder) remember(ts uint32) {
	d.seen[d.next] = ts
	d.next = (d.next + 1) % seenSize
	if d.nseen < seenSize {
		d.nseen++
	}
}
