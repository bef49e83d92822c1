package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// source is where a request comes from: the peer's address, or, when the
// peer is a trusted proxy, the address that proxy says it forwarded for,
// and whether the client reached the gateway over HTTPS.
type source struct {
	addr  netip.Addr
	https bool
}

// String is the address as the audit trail and the log show it.
func (src source) String() string {
	if !src.addr.IsValid() {
		return "unknown"
	}
	return src.addr.String()
}

// sourceOf finds a request's source. Only a trusted proxy may set
// X-Forwarded-For and X-Forwarded-Proto: from anyone else they are ignored.
// X-Forwarded-For is read from the right, past every trusted proxy, so a
// client cannot prepend an address of its choice.
func (s *Server) sourceOf(r *http.Request) source {
	src := source{addr: peerAddr(r), https: r.TLS != nil}
	if !s.trusted(src.addr) {
		return src
	}
	if proto := r.Header.Get("X-Forwarded-Proto"); proto != "" {
		src.https = strings.EqualFold(strings.TrimSpace(lastField(proto)), "https")
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return src // a malformed hop: trust nothing before it
			}
			src.addr = a.Unmap()
			if !s.trusted(src.addr) {
				return src
			}
		}
	}
	return src
}

func lastField(v string) string {
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		return v[i+1:]
	}
	return v
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// secureRequest reports whether the client reached the gateway over HTTPS
// (directly, or through a trusted proxy that says so): cookies get Secure
// and responses HSTS.
func (s *Server) secureRequest(r *http.Request) bool {
	return s.cfg.TLS || s.sourceOf(r).https
}
