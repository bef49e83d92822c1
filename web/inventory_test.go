package web

import (
	"crypto/sha512"
	"encoding/base64"
	"io"
	"io/fs"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// inventoryDoc holds the inventory of the payment pages' scripts.
const inventoryDoc = "../docs/chat.md"

var (
	inventoryRow = regexp.MustCompile("(?m)^\\| `(/[^`]+\\.js)` \\|.*\\| `(sha384-[A-Za-z0-9+/=]+)` \\|$")
	scriptTag    = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	srcAttr      = regexp.MustCompile(`(?i)\bsrc="([^"]+)"`)
	integrityOf  = regexp.MustCompile(`(?i)\bintegrity="([^"]+)"`)
	eventAttr    = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
)

func sri(b []byte) string {
	sum := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

// TestScriptInventory (PCI DSS 6.4.3): every script the gateway serves is
// in the documented inventory with its current hash; every page loads only
// listed scripts, holds no inline script or event handler, and an
// integrity attribute and the documented embed snippet hold the hash.
func TestScriptInventory(t *testing.T) {
	doc, err := os.ReadFile(inventoryDoc)
	if err != nil {
		t.Fatal(err)
	}
	inventory := map[string]string{} // URL path → hash
	for _, m := range inventoryRow.FindAllStringSubmatch(string(doc), -1) {
		inventory[m[1]] = m[2]
	}
	if len(inventory) == 0 {
		t.Fatalf("%s has no inventory rows; the parser is broken", inventoryDoc)
	}
	sub, _ := fs.Sub(static, "static")
	served := map[string]string{}
	fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".js") {
			b, _ := fs.ReadFile(sub, p)
			served["/"+p] = sri(b)
		}
		return err
	})
	for p, h := range served {
		switch want, ok := inventory[p]; {
		case !ok:
			t.Errorf("%s is served but not in the inventory of %s (add a row: | `%s` | … | `%s` |)", p, inventoryDoc, p, h)
		case want != h:
			t.Errorf("%s changed: the inventory says %s, it is %s; review the change and update the row", p, want, h)
		}
	}
	for p := range inventory {
		if _, ok := served[p]; !ok {
			t.Errorf("the inventory lists %s, which is not served", p)
		}
	}
	if want := `integrity="` + served["/widget.js"] + `"`; !strings.Contains(string(doc), want) {
		t.Errorf("the embed snippet of %s lacks %s", inventoryDoc, want)
	}
	fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".html") {
			return err
		}
		b, _ := fs.ReadFile(sub, p)
		for _, m := range scriptTag.FindAllStringSubmatch(string(b), -1) {
			src := srcAttr.FindStringSubmatch(m[1])
			if src == nil || strings.TrimSpace(m[2]) != "" {
				t.Errorf("%s holds an inline script", p)
				continue
			}
			if _, ok := inventory[src[1]]; !ok {
				t.Errorf("%s loads %s, which is not in the inventory", p, src[1])
			}
			if in := integrityOf.FindStringSubmatch(m[1]); in != nil && in[1] != served[src[1]] {
				t.Errorf("%s loads %s with integrity %s; it is %s", p, src[1], in[1], served[src[1]])
			}
		}
		if eventAttr.Match(b) {
			t.Errorf("%s holds an event-handler attribute (inline script)", p)
		}
		return nil
	})
}

// TestPaymentPagePolicies: the pages are served with a policy that runs
// scripts of the gateway's origin only, and the loader with CORS for SRI.
func TestPaymentPagePolicies(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AllowedOrigins = []string{"https://shop.example"} })
	for _, path := range []string{"/chat/?service=support", "/console/", "/demo/", "/api/v1/cards", "/widget.js"} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q lacks default-src 'none'", path, csp)
		}
		for _, d := range strings.Split(csp, ";") {
			if d = strings.TrimSpace(d); strings.HasPrefix(d, "script-src") && d != "script-src 'self'" {
				t.Errorf("%s: %q, want script-src 'self' only", path, d)
			}
		}
		if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
			t.Errorf("%s: CSP %q allows inline or evaluated script", path, csp)
		}
		if path == "/widget.js" && resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("/widget.js lacks CORS: an integrity check from another site would fail")
		}
	}
}
