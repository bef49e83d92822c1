package wsconn

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// frameStream builds client frames from spec, three bytes a frame (kind,
// flags, length), and returns the stream and the offsets where a whole
// message (or a control frame outside a fragmented message) ends.
func frameStream(spec []byte) (stream []byte, boundaries map[int]bool) {
	var buf bytes.Buffer
	boundaries = map[int]bool{0: true}
	fragmented := false
	for len(spec) >= 3 {
		kind, flags, length := spec[0], spec[1], int(spec[2])
		spec = spec[3:]
		var opcode byte
		switch kind % 4 {
		case 0:
			opcode = 0x1 // text
		case 1:
			opcode = 0x0 // continuation
		case 2:
			opcode = 0x9 // ping
		default:
			opcode = 0xA // pong
		}
		fin := flags&1 != 0 || opcode >= 0x8
		if opcode >= 0x8 {
			length %= 126 // control payloads are short
		} else {
			length *= int(flags>>2%3) + 1 // up to 765: 16-bit lengths too
		}
		b0 := opcode
		if fin {
			b0 |= 0x80
		}
		buf.WriteByte(b0)
		mask := byte(0)
		if flags&2 != 0 {
			mask = 0x80
		}
		switch {
		case length < 126 && flags&0x20 == 0:
			buf.WriteByte(mask | byte(length))
		case length < 1<<16 && flags&0x40 == 0:
			buf.WriteByte(mask | 126)
			binary.Write(&buf, binary.BigEndian, uint16(length))
		default:
			buf.WriteByte(mask | 127)
			binary.Write(&buf, binary.BigEndian, uint64(length))
		}
		if mask != 0 {
			buf.Write([]byte{1, 2, 3, 4})
		}
		buf.Write(make([]byte, length))
		if opcode < 0x8 {
			fragmented = !fin
		}
		if !fragmented {
			boundaries[buf.Len()] = true
		}
	}
	return buf.Bytes(), boundaries
}

// checkTracker feeds stream in chunks of the given sizes and checks, after
// each, that the tracker is at a boundary exactly where a message ended.
func checkTracker(t *testing.T, stream []byte, boundaries map[int]bool, chunks []byte) {
	t.Helper()
	var tr frameTracker
	off := 0
	for i := 0; off < len(stream); i++ {
		n := 1
		if len(chunks) > 0 {
			n = int(chunks[i%len(chunks)])%40 + 1
		}
		n = min(n, len(stream)-off)
		tr.feed(stream[off : off+n])
		off += n
		if got := tr.atBoundary(); got != boundaries[off] {
			t.Fatalf("after %d of %d bytes: atBoundary = %v, want %v", off, len(stream), got, boundaries[off])
		}
	}
}

func TestFrameTracker(t *testing.T) {
	for name, spec := range map[string][]byte{
		"one short text":               {0, 1, 5},
		"empty text":                   {0, 1, 0},
		"masked, 16-bit length":        {0, 3 | 4<<2, 200},
		"64-bit length":                {0, 3 | 0x40, 130},
		"7-bit length in a long field": {0, 1 | 0x20, 3},
		"fragmented with a ping":       {0, 0, 10, 2, 0, 4, 1, 0, 10, 3, 0, 0, 1, 1, 10},
		"pong alone":                   {3, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			stream, boundaries := frameStream(spec)
			checkTracker(t, stream, boundaries, nil)                 // byte at a time
			checkTracker(t, stream, boundaries, []byte{39})          // 40 at a time
			checkTracker(t, stream, boundaries, []byte{6, 0, 13, 2}) // uneven
		})
	}
}

// FuzzFrameTracker: wherever a stream of frames is cut, the tracker knows
// whether the bytes so far end a message.
func FuzzFrameTracker(f *testing.F) {
	f.Add([]byte{0, 1, 5}, []byte{1})
	f.Add([]byte{0, 0, 10, 2, 0, 4, 1, 1, 10}, []byte{3, 7})
	f.Add([]byte{0, 3 | 0x40, 130, 3, 2, 9}, []byte{0})
	f.Fuzz(func(t *testing.T, spec, chunks []byte) {
		if len(spec) > 300 {
			return
		}
		stream, boundaries := frameStream(spec)
		checkTracker(t, stream, boundaries, chunks)
	})
}
