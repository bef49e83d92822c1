package voice

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
)

// Payload types of G.711 audio, analysed in-band when a platform sends
// no telephone-events.
const (
	payloadPCMU = 0
	payloadPCMA = 8
)

// The dynamic payload types (RFC 3551 §3), where telephone-event must be
// (RFC 4733 assigns it no static type).
const (
	MinDynamicPayloadType = 96
	MaxDynamicPayloadType = 127
)

// ErrEventPayloadType refuses a telephone-event payload type outside the
// dynamic range: a static type is audio (0 PCMU, 8 PCMA …), and audio
// parsed as events would be keys the caller never pressed.
var ErrEventPayloadType = errors.New("voice: the telephone-event payload type must be a dynamic type, 96 to 127 (RFC 3551 §3)")

// CheckEventPayloadType returns ErrEventPayloadType (naming pt) unless pt
// is a dynamic payload type.
func CheckEventPayloadType(pt int) error {
	if pt < MinDynamicPayloadType || pt > MaxDynamicPayloadType {
		return fmt.Errorf("%w: got %d", ErrEventPayloadType, pt)
	}
	return nil
}

// RTPStats counts what an RTP port received: every packet, those from
// another address, malformed ones, those of a payload type that is neither
// the telephone-event one nor G.711 (never parsed as events), and G.711
// packets analysed in-band.
type RTPStats struct {
	Packets, Foreign, Malformed, Unknown, Audio atomic.Uint64
}

// RTPPort receives the RTP a platform forks for one session, on a UDP port
// of its own. Packets from any address but the platform's for this session
// are dropped and counted, as are malformed ones; keys go to onKey. Audio
// is analysed in memory and never kept.
type RTPPort struct {
	conn   *net.UDPConn
	source *net.UDPAddr
	pt     uint8
	onKey  func(byte)
	Stats  RTPStats
	wg     sync.WaitGroup
	once   sync.Once
}

// OpenRTPPort listens on addr ("127.0.0.1:0" picks a free port) for RTP from
// source, with telephone-events on payload type eventPT, a dynamic type.
func OpenRTPPort(addr string, source *net.UDPAddr, eventPT uint8, onKey func(byte)) (*RTPPort, error) {
	if err := CheckEventPayloadType(int(eventPT)); err != nil {
		return nil, err
	}
	if source == nil {
		return nil, errors.New("voice: an RTP port needs the platform's source address")
	}
	la, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, err
	}
	p := &RTPPort{conn: conn, source: source, pt: eventPT, onKey: onKey}
	p.wg.Add(1)
	go p.loop()
	return p, nil
}

// Port is the UDP port number.
func (p *RTPPort) Port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

// Close closes the port and waits for its reader.
func (p *RTPPort) Close() {
	p.stop()
	p.wg.Wait()
}

// stop closes the socket; the reader ends on its own.
func (p *RTPPort) stop() { p.once.Do(func() { p.conn.Close() }) }

func (p *RTPPort) loop() {
	defer p.wg.Done()
	dec := EventDecoder{PayloadType: p.pt}
	var inband InbandDetector
	var hdr rtp.Header
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			clear(buf)
			return
		}
		p.Stats.Packets.Add(1)
		if !from.IP.Equal(p.source.IP) || from.Port != p.source.Port {
			p.Stats.Foreign.Add(1)
			continue
		}
		pkt := buf[:n]
		hn, err := hdr.Unmarshal(pkt)
		if err != nil || hdr.Version != 2 {
			p.Stats.Malformed.Add(1)
			continue
		}
		switch hdr.PayloadType {
		case p.pt:
			if dg, ok, err := dec.Feed(pkt); err != nil {
				p.Stats.Malformed.Add(1)
			} else if ok {
				p.onKey(dg.Key)
			}
		case payloadPCMU:
			p.Stats.Audio.Add(1)
			inband.WriteMuLaw(rtpPayload(pkt[hn:], hdr.Padding), p.onKey)
		case payloadPCMA:
			p.Stats.Audio.Add(1)
			inband.WriteALaw(rtpPayload(pkt[hn:], hdr.Padding), p.onKey)
		default:
			p.Stats.Unknown.Add(1)
		}
	}
}

// rtpPayload is a packet's payload without its padding (none when the
// padding count is impossible).
func rtpPayload(b []byte, padded bool) []byte {
	if padded && len(b) > 0 {
		pad := int(b[len(b)-1])
		if pad > len(b) {
			return nil
		}
		b = b[:len(b)-pad]
	}
	return b
}
