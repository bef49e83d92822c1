package voice

import (
	"errors"
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

// RTPStats counts what an RTP port received.
type RTPStats struct {
	Packets, Foreign, Malformed, Unknown atomic.Uint64
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
// source, with telephone-events on payload type eventPT.
func OpenRTPPort(addr string, source *net.UDPAddr, eventPT uint8, onKey func(byte)) (*RTPPort, error) {
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
			inband.WriteMuLaw(pkt[hn:], p.onKey)
		case payloadPCMA:
			inband.WriteALaw(pkt[hn:], p.onKey)
		default:
			p.Stats.Unknown.Add(1)
		}
	}
}
