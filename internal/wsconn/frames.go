package wsconn

import "encoding/binary"

// frameTracker follows websocket frame headers (RFC 6455 §5.2) through a
// byte stream, skipping payloads, to know where frames end. It does not
// validate: the websocket library does, and closes the connection on a bad
// frame.
type frameTracker struct {
	header     [14]byte
	have       int   // header bytes seen
	need       int   // header length, once its first two bytes are in
	payload    int64 // payload bytes still to come
	fragmented bool  // a data message's later frames are still to come
}

// atBoundary reports whether what was fed ends with a whole message (control
// frames may come between the frames of a fragmented one).
func (t *frameTracker) atBoundary() bool {
	return t.have == 0 && t.payload == 0 && !t.fragmented
}

func (t *frameTracker) feed(b []byte) {
	for len(b) > 0 {
		if t.payload > 0 {
			k := int(min(t.payload, int64(len(b))))
			t.payload -= int64(k)
			b = b[k:]
			continue
		}
		t.header[t.have] = b[0]
		t.have++
		b = b[1:]
		if t.have == 2 {
			t.need = 2
			switch t.header[1] & 0x7f {
			case 126:
				t.need += 2
			case 127:
				t.need += 8
			}
			if t.header[1]&0x80 != 0 {
				t.need += 4 // masking key
			}
		}
		if t.have >= 2 && t.have == t.need {
			switch l := t.header[1] & 0x7f; l {
			case 126:
				t.payload = int64(binary.BigEndian.Uint16(t.header[2:]))
			case 127:
				t.payload = int64(binary.BigEndian.Uint64(t.header[2:]) &^ (1 << 63))
			default:
				t.payload = int64(l)
			}
			if t.header[0]&0x08 == 0 { // a data or continuation frame
				t.fragmented = t.header[0]&0x80 == 0 // FIN clear
			}
			t.have = 0
		}
	}
}
