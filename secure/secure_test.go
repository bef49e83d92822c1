package secure

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secureinput/gateway/card"
	"github.com/secureinput/gateway/redact"
)

const (
	testCard = "4111 1111 1111 1111"
	testSSN  = "123-45-6789"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestValueNeverPrints(t *testing.T) {
	v := NewValue(testCard)
	type holder struct {
		Card Value
		P    *Value
	}
	h := holder{Card: v, P: &v}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", slog.Any("v", v), slog.Any("h", h))
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "v", v)
	j, _ := json.Marshal(h)
	x, _ := xml.Marshal(h)
	outputs := []string{
		fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s %q %x %d", v, v, v, v, v, v, v),
		fmt.Sprintf("%v %+v %#v", h, h, &h), string(j), string(x), logs.String(), v.String(),
	}
	for _, out := range outputs {
		if strings.Contains(out, "4111") {
			t.Errorf("a printing path shows the value: %s", out)
		}
	}
	if v.Len() != len(testCard) || v.text() != testCard {
		t.Error("the value lost its bytes")
	}
	v.Wipe()
	if !v.IsZero() {
		t.Error("Wipe left the value")
	}
}

func TestCheck(t *testing.T) {
	cardForm := []Field{
		{ID: "amount", Kind: KindAmount, AgentFills: true},
		{ID: "card_number", Kind: KindCardNumber},
		{ID: "expiry", Kind: KindExpiry},
		{ID: "cvv", Kind: KindSecurityCode},
	}
	cases := []struct {
		name     string
		fields   []Field
		customer map[string]string
		agent    map[string]string
		want     map[string]error // field → error; nil map: all pass
	}{
		{"visa ok", cardForm, map[string]string{"card_number": testCard, "expiry": "12/26", "cvv": "123"}, map[string]string{"amount": "10.50"}, nil},
		{"amex needs 4-digit CID", cardForm, map[string]string{"card_number": "3782 822463 10005", "expiry": "01/2030", "cvv": "123"}, map[string]string{"amount": "1"},
			map[string]error{"cvv": ErrInvalid}},
		{"amex ok", cardForm, map[string]string{"card_number": "378282246310005", "expiry": "0130", "cvv": "1234"}, map[string]string{"amount": "1"}, nil},
		{"luhn", cardForm, map[string]string{"card_number": "4111 1111 1111 1112", "expiry": "12/26", "cvv": "123"}, map[string]string{"amount": "1"},
			map[string]error{"card_number": card.ErrLuhn}},
		{"unknown brand", cardForm, map[string]string{"card_number": "7111 1111 1111 1114", "expiry": "12/26", "cvv": "123"}, map[string]string{"amount": "1"},
			map[string]error{"card_number": card.ErrBrand}},
		{"expired last month", cardForm, map[string]string{"card_number": testCard, "expiry": "10/26", "cvv": "123"}, map[string]string{"amount": "1"},
			map[string]error{"expiry": ErrExpired}},
		{"bad month", cardForm, map[string]string{"card_number": testCard, "expiry": "13/27", "cvv": "123"}, map[string]string{"amount": "1"},
			map[string]error{"expiry": ErrInvalid}},
		{"missing and bad amount", cardForm, map[string]string{"card_number": testCard, "expiry": "12/26"}, map[string]string{"amount": "1.234"},
			map[string]error{"amount": ErrInvalid, "cvv": ErrRequired}},
		{"brand not accepted", []Field{{ID: "card_number", Kind: KindCardNumber, Brands: []string{"visa", "mastercard"}}},
			map[string]string{"card_number": "378282246310005"}, nil, map[string]error{"card_number": ErrBrand}},
		{"brand accepted", []Field{{ID: "card_number", Kind: KindCardNumber, Brands: []string{"visa", "mastercard"}}},
			map[string]string{"card_number": testCard}, nil, nil},
		{"ssn ok", []Field{{ID: "ssn", Kind: KindSSN}}, map[string]string{"ssn": testSSN}, nil, nil},
		{"ssn area 666", []Field{{ID: "ssn", Kind: KindSSN}}, map[string]string{"ssn": "666-45-6789"}, nil, map[string]error{"ssn": ErrInvalid}},
		{"ssn area 9xx", []Field{{ID: "ssn", Kind: KindSSN}}, map[string]string{"ssn": "912-45-6789"}, nil, map[string]error{"ssn": ErrInvalid}},
		{"ssn group 00", []Field{{ID: "ssn", Kind: KindSSN}}, map[string]string{"ssn": "123-00-6789"}, nil, map[string]error{"ssn": ErrInvalid}},
		{"note too long", []Field{{ID: "note", Kind: KindNote}}, map[string]string{"note": strings.Repeat("x", MaxNote+1)}, nil, map[string]error{"note": ErrTooLong}},
		{"optional empty", []Field{{ID: "note", Kind: KindNote, Optional: true}}, map[string]string{}, nil, nil},
		{"unknown field", []Field{{ID: "note", Kind: KindNote}}, map[string]string{"note": "x", "extra": "y"}, nil, map[string]error{"extra": nil}},
		{"account", []Field{{ID: "acct", Kind: KindAccount, AgentFills: true}}, nil, map[string]string{"acct": "12"}, map[string]error{"acct": ErrInvalid}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			customer := map[string]Value{}
			for k, v := range tc.customer {
				customer[k] = NewValue(v)
			}
			errs := Check(tc.fields, customer, tc.agent, now)
			got := map[string]error{}
			for _, e := range errs {
				got[e.Field] = e.Err
				if strings.Contains(e.Error(), "4111") || strings.Contains(e.Error(), "6789") {
					t.Errorf("error holds the value: %v", e)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("errors %v, want %v", errs, tc.want)
			}
			for f, want := range tc.want {
				if _, ok := got[f]; !ok || (want != nil && !errors.Is(got[f], want)) {
					t.Errorf("field %s: %v, want %v", f, got[f], want)
				}
			}
		})
	}
}

// service starts an httptest validation service answering with reply.
func service(t *testing.T, h http.HandlerFunc) *Pipeline {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := NewClient(ClientConfig{URL: srv.URL, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := redact.New(redact.DefaultConfig())
	p := NewPipeline(PipelineConfig{Client: c, Details: e})
	p.now = func() time.Time { return now }
	return p
}

func cardRequest() Request {
	return Request{
		Form: "Credit Card",
		Fields: []Field{
			{ID: "amount", Kind: KindAmount, AgentFills: true},
			{ID: "card_number", Kind: KindCardNumber},
			{ID: "expiry", Kind: KindExpiry},
		},
		Customer: map[string]Value{"card_number": NewValue(testCard), "expiry": NewValue("12/27")},
		Agent:    map[string]string{"amount": "12.50"},
	}
}

func TestValidationServiceFailureModes(t *testing.T) {
	cases := []struct {
		name    string
		handler http.HandlerFunc
		status  string
		details string // contained in Details
	}{
		{"accepted", replyWith(`<?xml version="1.0" encoding="UTF-8"?><outcome value="accepted" details="ok 42"/>`), StatusAccepted, "ok 42"},
		{"declined", replyWith(`<?xml version="1.0"?>` + "\n" + `<outcome value="declined" details="insufficient funds"/>`), StatusDeclined, "insufficient funds"},
		{"pipes removed", replyWith(`<?xml version="1.0"?><outcome value="accepted" details="a|b||c"/>`), StatusAccepted, "abc"},
		{"nested outcome", replyWith(`<?xml version="1.0"?><response><outcome value="declined" details="x"/></response>`), StatusDeclined, "x"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) { time.Sleep(time.Second) }, StatusError, "timeout"},
		{"HTTP 500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }, StatusError, "HTTP 500"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://example.com/", http.StatusTemporaryRedirect)
		}, StatusError, "HTTP 307"},
		{"no declaration", replyWith(`<outcome value="accepted" details="ok"/>`), StatusError, "no XML declaration"},
		{"malformed", replyWith(`<?xml version="1.0"?><outcome value="accepted" details="ok">`), StatusError, "malformed"},
		{"unknown value", replyWith(`<?xml version="1.0"?><outcome value="approved" details="ok"/>`), StatusError, "neither accepted nor declined"},
		{"a value echoing the card", replyWith(`<?xml version="1.0"?><outcome value="4111 1111 1111 1111"/>`), StatusError, "neither accepted nor declined"},
		{"details echoing the card", replyWith(`<?xml version="1.0"?><outcome value="declined" details="card 4111 1111 1111 1111 refused"/>`), StatusDeclined, "card ################### refused"},
		{"no value", replyWith(`<?xml version="1.0"?><outcome details="ok"/>`), StatusError, "no value"},
		{"two outcomes", replyWith(`<?xml version="1.0"?><r><outcome value="declined"/><outcome value="accepted"/></r>`), StatusError, "2 outcome"},
		{"empty", replyWith(``), StatusError, "no XML declaration"},
		{"garbage after root", replyWith(`<?xml version="1.0"?><outcome value="accepted"/><outcome value="accepted"/>`), StatusError, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := service(t, tc.handler)
			req := cardRequest()
			out, err := p.Validate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if out.Status != tc.status || !strings.Contains(out.Details, tc.details) {
				t.Errorf("outcome %+v, want %s with %q", out, tc.status, tc.details)
			}
			if out.TransactionID == "" || out.Brand != "Visa" || out.Last4 != "1111" {
				t.Errorf("outcome %+v lacks transaction id, brand or last four", out)
			}
			if strings.Contains(out.Details, "4111") {
				t.Errorf("details hold the card: %q", out.Details)
			}
			if strings.Count(out.Result(), "\n") != 1 || strings.Contains(out.Result(), "|") {
				t.Errorf("result string %q", out.Result())
			}
			if len(req.Customer) != 0 {
				t.Error("the customer's values were not dropped")
			}
		})
	}
}

func replyWith(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }
}

func TestRequestFormatAndWipe(t *testing.T) {
	var got []byte
	p := service(t, func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		io.WriteString(w, `<?xml version="1.0"?><outcome value="accepted" details=""/>`)
	})
	req := cardRequest()
	req.Agent["amount"] = "12.50"
	cardValue := req.Customer["card_number"]
	out, err := p.Validate(context.Background(), req)
	if err != nil || out.Status != StatusAccepted {
		t.Fatalf("%+v %v", out, err)
	}
	want := `<?xml version="1.0" encoding='UTF-8' ?><params><param name="transactionId" value="` + out.TransactionID +
		`" /><param name="form" value="Credit Card" /><param name="amount" value="12.50" /><param name="card_number" value="` + testCard +
		`" /><param name="expiry" value="12/27" /></params>`
	if string(got) != want {
		t.Errorf("request body\n got %s\nwant %s", got, want)
	}
	if strings.Contains(string(cardValue.b), "4111") {
		t.Error("the card value was not wiped after the call")
	}
}

func TestFieldErrorsStopBeforeTheCall(t *testing.T) {
	called := false
	p := service(t, func(w http.ResponseWriter, r *http.Request) { called = true })
	req := cardRequest()
	req.Customer["card_number"] = NewValue("4111 1111 1111 1112")
	_, err := p.Validate(context.Background(), req)
	var fe FieldErrors
	if !errors.Is(err, ErrFields) || !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != "card_number" {
		t.Errorf("err = %v, want a FieldErrors for card_number", err)
	}
	if called {
		t.Error("the service was called with an invalid field")
	}
}

func TestTLSWithCADirectory(t *testing.T) {
	srv := httptest.NewTLSServer(replyWith(`<?xml version="1.0"?><outcome value="accepted" details="tls"/>`))
	defer srv.Close()
	dir := t.TempDir()
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	os.WriteFile(filepath.Join(dir, "ca.pem"), pemBytes, 0o600)

	c, err := NewClient(ClientConfig{URL: srv.URL, CADir: dir})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := NewPipeline(PipelineConfig{Client: c}).Validate(context.Background(), cardRequest())
	if out.Status != StatusAccepted || out.Details != "tls" {
		t.Errorf("with the CA: %+v", out)
	}
	// Without it the server's certificate is not trusted: an error, never acceptance.
	c, _ = NewClient(ClientConfig{URL: srv.URL})
	out, _ = NewPipeline(PipelineConfig{Client: c}).Validate(context.Background(), cardRequest())
	if out.Status != StatusError {
		t.Errorf("without the CA: %+v, want error", out)
	}
	if _, err := NewClient(ClientConfig{URL: srv.URL, CADir: t.TempDir()}); err == nil {
		t.Error("an empty CA directory was accepted")
	}
	if _, err := NewClient(ClientConfig{URL: "ftp://x"}); err == nil {
		t.Error("a non-HTTP URL was accepted")
	}
}

func TestSampleService(t *testing.T) {
	srv := httptest.NewServer(SampleService{Now: func() time.Time { return now }})
	defer srv.Close()
	c, _ := NewClient(ClientConfig{URL: srv.URL})
	var logs bytes.Buffer
	p := NewPipeline(PipelineConfig{Client: c, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	p.now = func() time.Time { return now }
	out, err := p.Validate(context.Background(), cardRequest())
	if err != nil || out.Status != StatusAccepted {
		t.Errorf("test card: %+v %v", out, err)
	}
	// A valid card of a brand that the sample declines: none; a Luhn-valid
	// card expiring this month is still accepted.
	req := cardRequest()
	req.Customer["expiry"] = NewValue("11/26")
	if out, _ := p.Validate(context.Background(), req); out.Status != StatusAccepted {
		t.Errorf("card expiring this month: %+v", out)
	}
	// The service itself declines what the pipeline would not send: post directly.
	for name, body := range map[string]string{
		"luhn":              `<params><param name="card_number" value="4111111111111112"/></params>`,
		"expired":           `<params><param name="card_number" value="4111111111111111"/><param name="expiry" value="01/20"/></params>`,
		"no card":           `<params/>`,
		"decline test card": `<params><param name="card_number" value="4000 0000 0000 0002"/></params>`,
	} {
		resp, _ := http.Post(srv.URL, "application/xml", strings.NewReader(body))
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `value="declined"`) {
			t.Errorf("%s: %s", name, b)
		}
	}
	if strings.Contains(logs.String(), "4111") {
		t.Errorf("the log holds the card: %s", logs.String())
	}
}

func TestValueFromJSON(t *testing.T) {
	var m struct{ Values map[string]Value }
	raw := []byte(`{"Values":{"a":"4111 1111","b":"x\"y","c":"\u0034"}}`)
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Values["a"].text() != "4111 1111" || m.Values["b"].text() != `x"y` || m.Values["c"].text() != "4" {
		t.Errorf("decoded %q %q %q", m.Values["a"].text(), m.Values["b"].text(), m.Values["c"].text())
	}
	clear(raw)
	if m.Values["a"].text() != "4111 1111" {
		t.Error("the value shares the frame's bytes")
	}
	if err := json.Unmarshal([]byte(`{"Values":{"a":12}}`), &m); err == nil {
		t.Error("a number was accepted as a value")
	}
}

// clientPKI makes a client CA and a client certificate (common name
// "gateway") signed by it, written as PEM files to a temporary directory.
func clientPKI(t *testing.T) (ca *x509.Certificate, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	clientKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clientTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "gateway"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	clientDER, _ := x509.CreateCertificate(rand.Reader, clientTmpl, caCert, &clientKey.PublicKey, caKey)
	keyDER, _ := x509.MarshalECPrivateKey(clientKey)
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientDER}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return caCert, certFile, keyFile
}

// serverCADir writes srv's certificate to a directory for a CADir.
func serverCADir(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "server.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	return dir
}

// TestMutualTLS: a validation service that requires a client certificate
// accepts the configured one and refuses a client without it.
func TestMutualTLS(t *testing.T) {
	caCert, certFile, keyFile := clientPKI(t)
	srv := httptest.NewUnstartedServer(replyWith(`<?xml version="1.0"?><outcome value="accepted" details="mtls"/>`))
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	caDir := serverCADir(t, srv)

	c, err := NewClient(ClientConfig{URL: srv.URL, CADir: caDir, ClientCert: certFile, ClientKey: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := NewPipeline(PipelineConfig{Client: c}).Validate(context.Background(), cardRequest()); out.Status != StatusAccepted {
		t.Errorf("with the client certificate: %+v", out)
	}
	c, _ = NewClient(ClientConfig{URL: srv.URL, CADir: caDir})
	if out, _ := NewPipeline(PipelineConfig{Client: c}).Validate(context.Background(), cardRequest()); out.Status != StatusError {
		t.Errorf("without the client certificate: %+v, want error", out)
	}
	if _, err := NewClient(ClientConfig{URL: srv.URL, ClientCert: certFile}); err == nil {
		t.Error("a certificate without its key was accepted")
	}
}
