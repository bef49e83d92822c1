package chatforms

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/secure"
)

var siteSecret = []byte("site secret for the tests")

// fakeInteractions gives every conversation the same interaction.
type fakeInteractions struct{ in Interaction }

func (f fakeInteractions) Interaction(string) Interaction { return f.in }

// lookupServer is an httptest lookup service answering with answer and
// keeping the requests it got.
type lookupServer struct {
	mu     sync.Mutex
	got    []secure.LookupRequest
	answer func(w http.ResponseWriter)
}

func (s *lookupServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req secure.LookupRequest
	json.NewDecoder(r.Body).Decode(&req)
	s.mu.Lock()
	s.got = append(s.got, req)
	answer := s.answer
	s.mu.Unlock()
	answer(w)
}

// billForm is a form with a lookup: the amount due is read-only, the
// address editable, the reference required and not looked up.
func billForm(t *testing.T, ls *lookupServer) Form {
	t.Helper()
	srv := httptest.NewServer(ls)
	t.Cleanup(srv.Close)
	e, _ := redact.New(redact.DefaultConfig())
	l, err := secure.NewLookup(secure.LookupConfig{ClientConfig: secure.ClientConfig{URL: srv.URL, Timeout: 300 * time.Millisecond}, Redact: e})
	if err != nil {
		t.Fatal(err)
	}
	return Form{
		Name: "bill", Title: "Pay the bill", Workgroups: []string{"support"}, Lookup: l,
		Attributes:            map[string]string{"crm_tenant": "north"},
		InteractionAttributes: []string{AttrWorkgroup, AttrPage, SitePrefix + "customer_id"},
		Fields: []secure.Field{
			{ID: "amount", Kind: secure.KindAmount, AgentFills: true, ReadOnly: true},
			{ID: "address", Kind: secure.KindText, AgentFills: true, Optional: true},
			{ID: "reference", Kind: secure.KindText, AgentFills: true},
			{ID: "card_number", Kind: secure.KindCardNumber},
		},
	}
}

type recordingValidator struct {
	fakeValidator
	reqs chan secure.Request
}

func (v *recordingValidator) Validate(ctx context.Context, req secure.Request) (secure.Outcome, error) {
	v.reqs <- req
	return v.fakeValidator.Validate(ctx, req)
}

func lookupDesk(t *testing.T, f Form, in Interaction) (*Desk, *fakeChats, *recordingValidator) {
	t.Helper()
	cat, err := New(Config{Forms: []Form{f}, AgentRights: map[string][]Right{"ann": {RightSecureInput, RightInitiate}},
		AgentWorkgroups: map[string][]string{"ann": {"support"}}})
	if err != nil {
		t.Fatal(err)
	}
	chats := &fakeChats{}
	v := &recordingValidator{fakeValidator: fakeValidator{status: secure.StatusAccepted}, reqs: make(chan secure.Request, 1)}
	d, err := NewDesk(DeskConfig{Catalog: cat, Validator: v, Chats: chats, Notifier: &fakeNotifier{}, Interactions: fakeInteractions{in}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d, chats, v
}

func verifiedCustomer(t *testing.T) Interaction {
	t.Helper()
	in := Interaction{Attributes: map[string]string{AttrPage: "https://shop.example/checkout"}}
	site := map[string]string{"customer_id": "C-1001"}
	exp := time.Now().Add(time.Hour).Unix()
	if err := SiteInteraction(&in, siteSecret, site, exp, SignSite(siteSecret, site, exp), time.Now()); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestLookupPrefillReadOnlyAndEditable(t *testing.T) {
	ls := &lookupServer{answer: func(w http.ResponseWriter) {
		io.WriteString(w, `{"values":{"amount":"42.00","address":"1 Main St"},"attributes":{"tier":"gold"}}`)
	}}
	d, _, v := lookupDesk(t, billForm(t, ls), verifiedCustomer(t))
	ctx := context.Background()

	dr, err := d.Prepare(ctx, "ann", "C1", "bill", map[string]string{"amount": "1.00", "reference": ""})
	if err != nil {
		t.Fatal(err)
	}
	if dr.Values["amount"] != "42.00" || dr.Values["address"] != "1 Main St" || !slices.Equal(dr.ReadOnly, []string{"amount"}) {
		t.Errorf("draft %+v, want the amount and address looked up, the amount read-only", dr)
	}
	if dr.Ready || len(dr.Reasons) != 1 || !strings.Contains(dr.Reasons[0], `"reference" is required`) {
		t.Errorf("draft ready=%v reasons %q; want not ready until the reference is filled", dr.Ready, dr.Reasons)
	}
	got := ls.got[0]
	want := map[string]string{"crm_tenant": "north", "interaction.workgroup": "support", "interaction.page": "https://shop.example/checkout",
		"interaction.site.customer_id": "C-1001"}
	if got.Form != "bill" || len(got.Attributes) != len(want) {
		t.Fatalf("the lookup got %+v, want attributes %v", got, want)
	}
	for k, w := range want {
		if got.Attributes[k] != w {
			t.Errorf("lookup attribute %s = %q, want %q", k, got.Attributes[k], w)
		}
	}

	if _, err := d.Request(ctx, "ann", "C1", "bill", map[string]string{"amount": "1.00", "reference": "R1"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("a changed read-only field: err = %v, want ErrReadOnly", err)
	}
	dr, _ = d.Prepare(ctx, "ann", "C1", "bill", map[string]string{"reference": "R1", "address": "2 Side St"})
	if !dr.Ready || dr.Values["address"] != "1 Main St" {
		// the lookup answers the address again; the agent edits after it
		t.Errorf("draft %+v, want ready with the looked-up address", dr)
	}
	req, err := d.Request(ctx, "ann", "C1", "bill", map[string]string{"reference": "R1", "address": "2 Side St"})
	if err != nil {
		t.Fatal(err)
	}
	if req.AgentValues["amount"] != "42.00" || req.AgentValues["address"] != "2 Side St" {
		t.Errorf("request values %v, want the looked-up amount and the agent's address", req.AgentValues)
	}
	if err := d.Submit("C1", req.ID, map[string]secure.Value{"card_number": secure.NewValue("4111111111111111")}); err != nil {
		t.Fatal(err)
	}
	sent := <-v.reqs
	for k, w := range map[string]string{"crm_tenant": "north", "interaction.site.customer_id": "C-1001", "lookup.tier": "gold"} {
		if sent.Attributes[k] != w {
			t.Errorf("validation attribute %s = %q, want %q (all: %v)", k, sent.Attributes[k], w, sent.Attributes)
		}
	}
	if sent.Agent["amount"] != "42.00" {
		t.Errorf("validation agent values %v, want the looked-up amount", sent.Agent)
	}
}

func TestLookupFailuresBlockTheForm(t *testing.T) {
	cases := map[string]func(w http.ResponseWriter){
		"timeout":   func(w http.ResponseWriter) { time.Sleep(time.Second) },
		"error":     func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) },
		"malformed": func(w http.ResponseWriter) { io.WriteString(w, `{"values":{"amount":`) },
		"unknown":   func(w http.ResponseWriter) { io.WriteString(w, `{"values":{"card_number":"4111111111111111"}}`) },
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			ls := &lookupServer{answer: answer}
			d, _, _ := lookupDesk(t, billForm(t, ls), verifiedCustomer(t))
			dr, err := d.Prepare(context.Background(), "ann", "C1", "bill", map[string]string{"reference": "R1"})
			if err != nil {
				t.Fatal(err)
			}
			if dr.Ready || len(dr.Reasons) == 0 || !strings.HasPrefix(dr.Reasons[0], "lookup failed") || dr.Values["amount"] != "" {
				t.Errorf("draft %+v, want not ready, a lookup reason and nothing filled", dr)
			}
			if strings.Contains(strings.Join(dr.Reasons, " "), "4111") {
				t.Errorf("a reason shows a value: %q", dr.Reasons)
			}
			if _, err := d.Request(context.Background(), "ann", "C1", "bill", map[string]string{"amount": "42.00", "reference": "R1"}); !errors.Is(err, ErrLookupPending) {
				t.Errorf("Request after a failed lookup: err = %v, want ErrLookupPending", err)
			}
		})
	}
}

func TestLookupAnswerCardIsMasked(t *testing.T) {
	ls := &lookupServer{answer: func(w http.ResponseWriter) {
		io.WriteString(w, `{"values":{"amount":"42.00","address":"card 4111 1111 1111 1111 on file"},"attributes":{"note":"5555555555554444"}}`)
	}}
	d, chats, v := lookupDesk(t, billForm(t, ls), verifiedCustomer(t))
	dr, _ := d.Prepare(context.Background(), "ann", "C1", "bill", map[string]string{"reference": "R1"})
	if strings.Contains(dr.Values["address"], "4111") || !strings.Contains(dr.Values["address"], "on file") {
		t.Errorf("the agent sees address %q, want the card masked", dr.Values["address"])
	}
	req, err := d.Request(context.Background(), "ann", "C1", "bill", map[string]string{"reference": "R1"})
	if err != nil {
		t.Fatal(err)
	}
	d.Submit("C1", req.ID, map[string]secure.Value{"card_number": secure.NewValue("4111111111111111")})
	sent := <-v.reqs
	all := strings.Join(chats.recorded(), " ") + sent.Agent["address"] + sent.Attributes["lookup.note"]
	if strings.Contains(all, "4111") || strings.Contains(all, "5555") {
		t.Errorf("a looked-up card number went on unmasked: %s", all)
	}
}

func TestSiteAttributes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	attrs := map[string]string{"customer_id": "C-1001", "account": "A-9"}
	exp := now.Add(time.Hour).Unix()
	good := SignSite(siteSecret, attrs, exp)
	forged := map[string]string{"customer_id": "C-2002", "account": "A-9"}
	cases := []struct {
		name    string
		secret  []byte
		attrs   map[string]string
		exp     int64
		sig     string
		want    error
		checkIn bool
	}{
		{"good", siteSecret, attrs, exp, good, nil, true},
		{"upper-case hex", siteSecret, attrs, exp, strings.ToUpper(good), nil, false},
		{"forged value", siteSecret, forged, exp, good, ErrSiteSignature, true},
		{"other secret", []byte("another site"), attrs, exp, good, ErrSiteSignature, false},
		{"expiry moved", siteSecret, attrs, exp + 3600, good, ErrSiteSignature, false},
		{"expired", siteSecret, attrs, now.Unix(), SignSite(siteSecret, attrs, now.Unix()), ErrSiteExpired, false},
		{"too far ahead", siteSecret, attrs, now.Add(48 * time.Hour).Unix(), SignSite(siteSecret, attrs, now.Add(48*time.Hour).Unix()), ErrSiteSignature, false},
		{"unsigned", siteSecret, attrs, exp, "", ErrSiteUnsigned, true},
		{"bad name", siteSecret, map[string]string{"a=b": "x"}, exp, "", secure.ErrAttribute, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var in Interaction
			err := SiteInteraction(&in, tc.secret, tc.attrs, tc.exp, tc.sig, now)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !tc.checkIn {
				return
			}
			id := tc.attrs["customer_id"]
			if tc.want == nil && (in.Attributes["site.customer_id"] != id || len(in.Unverified) != 0) {
				t.Errorf("verified attributes %v / unverified %v, want site.customer_id", in.Attributes, in.Unverified)
			}
			if tc.want != nil && (in.Attributes["site.customer_id"] != "" || in.Unverified["customer_id"] != id) {
				t.Errorf("attributes %v / unverified %v, want them kept apart as unverified", in.Attributes, in.Unverified)
			}
		})
	}
}

func TestUnverifiedSiteAttributes(t *testing.T) {
	ls := &lookupServer{answer: func(w http.ResponseWriter) { io.WriteString(w, `{"values":{"amount":"42.00"}}`) }}
	var in Interaction
	forged := map[string]string{"customer_id": "C-2002"}
	SiteInteraction(&in, siteSecret, forged, time.Now().Add(time.Hour).Unix(), "00ff", time.Now())

	f := billForm(t, ls)
	d, _, _ := lookupDesk(t, f, in)
	d.Prepare(context.Background(), "ann", "C1", "bill", nil)
	if got := ls.got[0].Attributes; got["interaction.site.customer_id"] != "" || got["interaction.unverified.customer_id"] != "C-2002" {
		t.Errorf("lookup attributes %v, want the forged id only as interaction.unverified.customer_id", got)
	}

	f.RequireVerified = true
	d, _, _ = lookupDesk(t, f, in)
	n := len(ls.got)
	dr, err := d.Prepare(context.Background(), "ann", "C1", "bill", map[string]string{"reference": "R1"})
	if err != nil || dr.Ready || len(dr.Reasons) != 1 || !strings.Contains(dr.Reasons[0], "verified") || len(ls.got) != n {
		t.Errorf("draft %+v, err %v, lookups %d → %d; want refused before any lookup, saying why", dr, err, n, len(ls.got))
	}
	if _, err := d.Request(context.Background(), "ann", "C1", "bill", map[string]string{"reference": "R1"}); !errors.Is(err, ErrUnverified) {
		t.Errorf("Request: err = %v, want ErrUnverified", err)
	}
}

func TestFormAttributeConfig(t *testing.T) {
	base := func() Form {
		return Form{Name: "f", Workgroups: []string{"support"}, Fields: []secure.Field{{ID: "n", Kind: secure.KindNote}}}
	}
	cases := map[string]func(*Form){
		"bad attribute name":  func(f *Form) { f.Attributes = map[string]string{"a b": "x"} },
		"unknown interaction": func(f *Form) { f.InteractionAttributes = []string{"cookie"} },
		"read-only no lookup": func(f *Form) {
			f.Fields = append(f.Fields, secure.Field{ID: "a", Kind: secure.KindText, AgentFills: true, ReadOnly: true})
		},
		"field id attr. prefix": func(f *Form) { f.Fields = append(f.Fields, secure.Field{ID: "attr.x", Kind: secure.KindText}) },
	}
	for name, mutate := range cases {
		f := base()
		mutate(&f)
		if _, err := New(Config{Forms: []Form{f}}); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	f := base()
	f.Attributes = map[string]string{"tenant": "north"}
	f.InteractionAttributes = []string{AttrService, AttrWorkgroup, AttrPage, AttrCaller, AttrAccount, "site.customer_id"}
	if _, err := New(Config{Forms: []Form{f}}); err != nil {
		t.Errorf("a good form: %v", err)
	}
}

func TestDeskIdentify(t *testing.T) {
	ls := &lookupServer{answer: func(w http.ResponseWriter) { io.WriteString(w, `{"values":{"amount":"42.00"}}`) }}
	f := billForm(t, ls)
	cat, err := New(Config{Forms: []Form{f}, AgentRights: map[string][]Right{"ann": {RightSecureInput, RightInitiate}},
		AgentWorkgroups: map[string][]string{"ann": {"support"}}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDesk(DeskConfig{Catalog: cat, Validator: &fakeValidator{}, Chats: &fakeChats{}, Notifier: &fakeNotifier{},
		SiteSecrets: map[string][]byte{"https://shop.example": siteSecret}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	site := map[string]string{"customer_id": "C-1001"}
	exp := time.Now().Add(time.Hour).Unix()
	sig := SignSite(siteSecret, site, exp)

	cases := []struct {
		name, page string
		sig        string
		want       error
		attr       string
	}{
		{"signed by the site", "https://Shop.example/checkout?x=1", sig, nil, "interaction.site.customer_id"},
		{"another site's page", "https://other.example/", sig, ErrSiteUnsigned, "interaction.unverified.customer_id"},
		{"forged", "https://shop.example/", strings.Repeat("0", 64), ErrSiteSignature, "interaction.unverified.customer_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := d.Identify("C1", tc.page, site, exp, tc.sig); !errors.Is(err, tc.want) {
				t.Fatalf("Identify: %v, want %v", err, tc.want)
			}
			d.Prepare(context.Background(), "ann", "C1", "bill", nil)
			got := ls.got[len(ls.got)-1].Attributes
			if got[tc.attr] != "C-1001" || len(got) != 3 {
				t.Errorf("lookup attributes %v, want the id as %s only", got, tc.attr)
			}
		})
	}
	d.Forget("C1")
	d.Prepare(context.Background(), "ann", "C1", "bill", nil)
	if got := ls.got[len(ls.got)-1].Attributes; got["interaction.site.customer_id"] != "" || got["interaction.unverified.customer_id"] != "" {
		t.Errorf("after Forget the attributes are %v, want the website's gone", got)
	}
}
