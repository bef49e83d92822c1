package secure

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/secureinput/gateway/redact"
)

var lookupFields = []Field{
	{ID: "amount", Kind: KindAmount, AgentFills: true},
	{ID: "address", Kind: KindText, AgentFills: true, Optional: true},
	{ID: "card_number", Kind: KindCardNumber},
}

func lookupService(t *testing.T, h http.HandlerFunc) *Lookup {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e, _ := redact.New(redact.DefaultConfig())
	l, err := NewLookup(LookupConfig{ClientConfig: ClientConfig{URL: srv.URL, Timeout: 300 * time.Millisecond}, Redact: e})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLookupPrefillsAndMasks(t *testing.T) {
	var got LookupRequest
	l := lookupService(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s, want a JSON POST", r.Method, r.Header.Get("Content-Type"))
		}
		json.NewDecoder(r.Body).Decode(&got)
		io.WriteString(w, `{"values":{"amount":"42.00","address":"1 Main St, card on file 4111 1111 1111 1111"},"attributes":{"tier":"gold"}}`)
	})
	res, err := l.Do(context.Background(), lookupFields, LookupRequest{Form: "Pay", Attributes: map[string]string{"customer": "C-7"},
		Values: map[string]string{"amount": ""}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Form != "Pay" || got.Attributes["customer"] != "C-7" {
		t.Errorf("the service got %+v, want the form and its attributes", got)
	}
	if res.Values["amount"] != "42.00" || res.Attributes["tier"] != "gold" {
		t.Errorf("result %+v, want the amount and the tier", res)
	}
	if strings.Contains(res.Values["address"], "4111") || !strings.Contains(res.Values["address"], "1 Main St") || res.Masked != 1 {
		t.Errorf("address %q (masked %d), want the card masked and the rest kept", res.Values["address"], res.Masked)
	}
}

func TestLookupFailureModes(t *testing.T) {
	cases := []struct {
		name, reason string
		h            http.HandlerFunc
	}{
		{"timeout", "timeout", func(w http.ResponseWriter, r *http.Request) { time.Sleep(time.Second) }},
		{"status", "HTTP 500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }},
		{"redirect", "HTTP 302", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/x", http.StatusFound) }},
		{"not json", "malformed", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<xml/>") }},
		{"number value", "malformed", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"values":{"amount":42}}`) }},
		{"trailing", "malformed", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"values":{}} {}`) }},
		{"unknown field", "malformed", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"values":{"4111111111111111":"x"}}`)
		}},
		{"customer field", "malformed", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"values":{"card_number":"4111111111111111"}}`)
		}},
		{"bad attribute", "malformed", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"attributes":{"a b":"x"}}`) }},
		{"too large", "larger", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"values":{"address":"`+strings.Repeat("a", maxLookupReply)+`"}}`)
		}},
		{"long value", "longer", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"values":{"address":"`+strings.Repeat("a", MaxAttributeValue+1)+`"}}`)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := lookupService(t, tc.h).Do(context.Background(), lookupFields, LookupRequest{Form: "Pay"})
			if !errors.Is(err, ErrLookup) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %v, want ErrLookup saying %q", err, tc.reason)
			}
			if res.Values != nil || strings.Contains(err.Error(), "4111") {
				t.Errorf("result %+v, err %v: want nothing half-filled and no value in the reason", res, err)
			}
		})
	}
}

func TestServiceURLRule(t *testing.T) {
	e, _ := redact.New(redact.DefaultConfig())
	for url, ok := range map[string]bool{
		"https://crm.example/lookup": true, "http://127.0.0.1:8080/x": true, "http://[::1]/x": true, "http://localhost/x": true,
		"http://crm.example/lookup": false, "ftp://crm.example": false, "": false, "http://10.0.0.1/x": false,
	} {
		_, err := NewLookup(LookupConfig{ClientConfig: ClientConfig{URL: url}, Redact: e})
		_, verr := NewClient(ClientConfig{URL: url})
		if (err == nil) != ok || (verr == nil) != ok {
			t.Errorf("%q: lookup %v, validation %v; want allowed=%v", url, err, verr, ok)
		}
	}
}

func TestValidationCarriesAttributes(t *testing.T) {
	var got []byte
	p := service(t, func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		io.WriteString(w, `<?xml version="1.0"?><outcome value="accepted"/>`)
	})
	req := cardRequest()
	req.Attributes = map[string]string{"customer": "C<7>", "amount": "shadow", "site.account": "A1"}
	out, err := p.Validate(context.Background(), req)
	if err != nil || out.Status != StatusAccepted {
		t.Fatalf("%+v %v", out, err)
	}
	want := `<param name="expiry" value="12/27" /><param name="attr.amount" value="shadow" /><param name="attr.customer" value="C&lt;7&gt;" />` +
		`<param name="attr.site.account" value="A1" /></params>`
	if !strings.HasSuffix(string(got), want) || !strings.Contains(string(got), `<param name="amount" value="12.50" />`) {
		t.Errorf("request body\n got %s\nwant it to end %s, the field amount kept apart", got, want)
	}

	called := false
	p = service(t, func(w http.ResponseWriter, r *http.Request) { called = true })
	req = cardRequest()
	req.Attributes = map[string]string{"bad name": "x"}
	out, err = p.Validate(context.Background(), req)
	if err != nil || out.Status != StatusError || called {
		t.Errorf("a bad attribute: %+v %v called=%v; want an error outcome and no call", out, err, called)
	}
}
