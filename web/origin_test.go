package web

import "testing"

func TestCheckOrigin(t *testing.T) {
	for _, tc := range []struct {
		name, origin, err string
	}{
		{"any", "*", ""},
		{"https", "https://shop.example", ""},
		{"port", "http://127.0.0.1:8080", ""},
		{"wildcard", "https://*.shop.example", ""},
		{"ipv6", "http://[::1]:8080", ""},
		{"other scheme", "chrome-extension://abcdef", ""},
		{"no scheme", "shop.example", `"shop.example" is not an origin: want scheme://host[:port] like https://shop.example, or *`},
		{"empty", "", `"" is not an origin: want scheme://host[:port] like https://shop.example, or *`},
		{"empty scheme", "://shop.example", `"://shop.example" is not an origin: want scheme://host[:port] like https://shop.example, or *`},
		{"no host", "https://", `"https://" has no host: want scheme://host[:port] like https://shop.example`},
		{"trailing slash", "https://shop.example/", `"https://shop.example/": an origin has no path, not even a final /: write "https://shop.example"`},
		{"path", "https://shop.example/cart?x=1", `"https://shop.example/cart?x=1": an origin has no path, not even a final /: write "https://shop.example"`},
		{"two in one", "https://a.example https://b.example", `"https://a.example https://b.example": an origin holds no space, comma, semicolon or quote; one origin an entry`},
		{"directive", "https://a.example; script-src *", `"https://a.example; script-src *": an origin holds no space, comma, semicolon or quote; one origin an entry`},
		{"bad pattern", "https://[shop.example", `"https://[shop.example": bad wildcard pattern (see path.Match)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckOrigin(tc.origin)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("CheckOrigin(%q) = %q, want %q", tc.origin, got, tc.err)
			}
		})
	}
}

func TestNewRefusesABadOrigin(t *testing.T) {
	e := newEnv(t, nil)
	_, err := New(Config{Hub: e.web.hub, Identity: e.ident, Audit: e.web.cfg.Audit, AllowedOrigins: []string{"https://shop.example/"}})
	if want := `web: Config.AllowedOrigins: "https://shop.example/": an origin has no path, not even a final /: write "https://shop.example"`; err == nil || err.Error() != want {
		t.Errorf("New = %v, want %q", err, want)
	}
}
