package web

import (
	"fmt"
	"path"
	"strings"
)

// CheckOrigin reports whether o may be an entry of Config.AllowedOrigins:
// "*" (any origin), or an origin scheme://host[:port] with no path, whose
// host may hold the wildcards of path.Match ("https://*.shop.example").
//
// The entries become websocket origin patterns, which are matched against
// the browser's scheme://host (so a path or a trailing slash never
// matches), and sources of the chat page's frame-ancestors policy (so a
// space, a comma or a semicolon would add other sources or directives).
func CheckOrigin(o string) error {
	if o == "*" {
		return nil
	}
	scheme, host, ok := strings.Cut(o, "://")
	switch {
	case !ok || !validScheme(scheme):
		return fmt.Errorf("%q is not an origin: want scheme://host[:port] like https://shop.example, or *", o)
	case host == "":
		return fmt.Errorf("%q has no host: want scheme://host[:port] like https://shop.example", o)
	case strings.ContainsAny(o, " \t\r\n;,'\""):
		return fmt.Errorf("%q: an origin holds no space, comma, semicolon or quote; one origin an entry", o)
	}
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		return fmt.Errorf("%q: an origin has no path, not even a final /: write %q", o, scheme+"://"+host[:i])
	}
	if _, err := path.Match(o, ""); err != nil {
		return fmt.Errorf("%q: bad wildcard pattern (see path.Match)", o)
	}
	return nil
}

// validScheme: a letter, then letters, digits, "+", "-" or "." (RFC 3986).
func validScheme(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}
