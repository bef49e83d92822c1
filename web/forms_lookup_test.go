package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/secure"

	"github.com/secureinput/gateway/internal/testenv"
)

// crmService is an httptest lookup service: it answers the amount due and
// a billing address that holds a card number, and keeps what it was sent.
type crmService struct {
	mu     sync.Mutex
	got    []secure.LookupRequest
	status int
	answer string // instead of the default answer
}

func (c *crmService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req secure.LookupRequest
	json.NewDecoder(r.Body).Decode(&req)
	c.mu.Lock()
	c.got = append(c.got, req)
	status, answer := c.status, c.answer
	c.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	if answer != "" {
		io.WriteString(w, answer)
		return
	}
	io.WriteString(w, `{"values":{"amount":"42.00","address":"1 Main St (card 4111 1111 1111 1111)"}}`)
}

func (c *crmService) last() secure.LookupRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[len(c.got)-1]
}

// lookupFormsEnv is an env with one form whose amount (read-only) and
// address (editable) come from crm, and whose reference the agent types.
// Each of sites is a further website origin, allowed and signing with
// testSiteSecret.
func lookupFormsEnv(t *testing.T, crm *crmService, sites ...string) *env {
	t.Helper()
	srv := httptest.NewServer(crm)
	t.Cleanup(srv.Close)
	eng, _ := redact.New(redact.DefaultConfig())
	lookup, err := secure.NewLookup(secure.LookupConfig{ClientConfig: secure.ClientConfig{URL: srv.URL, Timeout: time.Second}, Redact: eng})
	if err != nil {
		t.Fatal(err)
	}
	form := chatforms.Form{Name: "bill", Title: "Pay the bill", Workgroups: []string{"support"}, Lookup: lookup,
		Attributes: map[string]string{"tenant": "north"}, InteractionAttributes: []string{chatforms.AttrPage, chatforms.AttrService, chatforms.SitePrefix + "customer_id"},
		Fields: []secure.Field{
			{ID: "amount", Name: "Amount due", Kind: secure.KindAmount, AgentFills: true, ReadOnly: true},
			{ID: "address", Name: "Billing address", Kind: secure.KindText, AgentFills: true},
			{ID: "reference", Name: "Reference", Kind: secure.KindText, AgentFills: true},
			{ID: "card_number", Name: "Card number", Kind: secure.KindCardNumber},
		}}
	catalog, err := chatforms.New(chatforms.Config{Forms: []chatforms.Form{form},
		AgentRights:     map[string][]chatforms.Right{"ann": {chatforms.RightSecureInput, chatforms.RightInitiate}},
		AgentWorkgroups: map[string][]string{"ann": {"support"}}})
	if err != nil {
		t.Fatal(err)
	}
	client := testenv.ValidationService(t)
	secrets := map[string][]byte{"https://shop.example": testSiteSecret}
	for _, o := range sites {
		secrets[o] = testSiteSecret
	}
	return newEnv(t, func(c *Config) {
		c.AllowedOrigins = append(c.AllowedOrigins, sites...)
		pipeline := secure.NewPipeline(secure.PipelineConfig{Client: client, Logger: c.Logger})
		desk, err := chatforms.NewDesk(chatforms.DeskConfig{Catalog: catalog, Validator: pipeline, Chats: c.Hub, Notifier: FormFrames{Hub: c.Hub},
			Logger: c.Logger, Interactions: Interactions{Hub: c.Hub}, SiteSecrets: secrets})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { desk.Close(context.Background()) })
		c.Desk = desk
	})
}

func TestLookupFillsTheAgentsForm(t *testing.T) {
	crm := &crmService{}
	e := lookupFormsEnv(t, crm)
	agent := e.agent(t, "ann")
	visitor, _, _ := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
	visitor.send(map[string]any{"type": "hello", "service": "support", "page": "https://shop.example/checkout?session=1"})
	id := visitor.next(chat.FrameWelcome).Conversation
	agent.next(chat.FrameOffer)
	agent.send(map[string]any{"type": "accept", "conversation": id})
	visitor.next(chat.FrameAgentJoined)

	agent.send(map[string]any{"type": "forms", "conversation": id})
	forms, _ := agent.next(frameForms).Forms.([]any)
	if len(forms) != 1 || forms[0].(map[string]any)["lookup"] != true {
		t.Fatalf("forms %v, want the bill form marked lookup", forms)
	}

	// Sending before the lookup has answered is refused.
	agent.send(map[string]any{"type": "form_request", "conversation": id, "form": "bill", "fields": map[string]string{"amount": "42.00", "address": "x", "reference": "R1"}})
	if f := agent.next(frameError); f.Code != "lookup_pending" {
		t.Errorf("a form_request before the lookup: %s, want lookup_pending", f.Code)
	}

	agent.send(map[string]any{"type": "form_prepare", "conversation": id, "form": "bill", "fields": map[string]string{}})
	dr := agent.next(frameFormDraft)
	if dr.Values["amount"] != "42.00" || strings.Contains(dr.Values["address"], "4111") || !strings.Contains(dr.Values["address"], "1 Main St") {
		t.Errorf("draft values %v, want the amount and the address with its card masked", dr.Values)
	}
	if len(dr.ReadOnly) != 1 || dr.ReadOnly[0] != "amount" || dr.Ready || len(dr.Reasons) != 1 || !strings.Contains(dr.Reasons[0], "reference") {
		t.Errorf("draft read-only %v ready %v reasons %q; want the amount read-only and the reference missing", dr.ReadOnly, dr.Ready, dr.Reasons)
	}
	sent := crm.last()
	if sent.Attributes["tenant"] != "north" || sent.Attributes["interaction.page"] != "https://shop.example/checkout" ||
		sent.Attributes["interaction.service"] != "support" {
		t.Errorf("the lookup got attributes %v, want the form's and the interaction's", sent.Attributes)
	}

	agent.send(map[string]any{"type": "form_request", "conversation": id, "form": "bill", "fields": map[string]string{"amount": "1.00", "reference": "R1"}})
	if f := agent.next(frameError); f.Code != "read_only_field" {
		t.Errorf("a changed read-only amount: %s, want read_only_field", f.Code)
	}
	agent.send(map[string]any{"type": "form_request", "conversation": id, "form": "bill", "fields": map[string]string{"reference": "R1"}})
	f := visitor.next(frameForm)
	form := formAsMap(t, f.Form)
	b, _ := json.Marshal(form["agent_values"])
	if !strings.Contains(string(b), "42.00") || strings.Contains(string(b), "4111") {
		t.Errorf("the customer sees agent values %s, want the looked-up amount and no card", b)
	}
	visitor.send(map[string]any{"type": "form_submit", "request": f.Request, "values": map[string]string{"card_number": "4111 1111 1111 1111"}})
	for {
		st := agent.next(frameFormStatus)
		if st.Outcome != nil {
			break
		}
	}
	history, err := e.web.hub.History(context.Background(), id, "ann", 0)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(history)
	if strings.Contains(string(raw), "4111") || strings.Contains(string(raw), "1 Main St") {
		t.Errorf("the stored history holds a looked-up value: %s", raw)
	}
}

var testSiteSecret = []byte("the shop's signing secret")

// TestSignedWebsiteAttributes opens chats whose hello carries the website's
// attributes: signed by the shop, they reach the lookup as a site
// attribute; forged or signed for another page's origin, only as
// unverified.
func TestSignedWebsiteAttributes(t *testing.T) {
	crm := &crmService{}
	e := lookupFormsEnv(t, crm)
	agent := e.agent(t, "ann")
	attrs := map[string]string{"customer_id": "C-1001"}
	exp := time.Now().Add(time.Hour).Unix()
	good := chatforms.SignSite(testSiteSecret, attrs, exp)
	cases := []struct {
		name, page, sig string
		attrs           map[string]string
		want            string
	}{
		{"signed", "https://shop.example/checkout", good, attrs, "interaction.site.customer_id"},
		{"forged id", "https://shop.example/checkout", good, map[string]string{"customer_id": "C-2002"}, "interaction.unverified.customer_id"},
		{"unsigned", "https://shop.example/checkout", "", attrs, "interaction.unverified.customer_id"},
		{"another origin", "https://evil.example/", good, attrs, "interaction.unverified.customer_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			visitor, _, _ := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
			visitor.send(map[string]any{"type": "hello", "service": "support", "page": tc.page,
				"attributes": tc.attrs, "attributes_expires": exp, "attributes_signature": tc.sig})
			id := visitor.next(chat.FrameWelcome).Conversation
			agent.next(chat.FrameOffer)
			agent.send(map[string]any{"type": "accept", "conversation": id})
			visitor.next(chat.FrameAgentJoined)
			agent.send(map[string]any{"type": "form_prepare", "conversation": id, "form": "bill", "fields": map[string]string{}})
			agent.next(frameFormDraft)
			got := crm.last().Attributes
			if got[tc.want] != tc.attrs["customer_id"] {
				t.Errorf("the lookup got %v, want %s = %s", got, tc.want, tc.attrs["customer_id"])
			}
			if tc.want != "interaction.site.customer_id" && got["interaction.site.customer_id"] != "" {
				t.Errorf("an unverified id went as verified: %v", got)
			}
			agent.send(map[string]any{"type": "end", "conversation": id})
			visitor.next(chat.FrameEnded)
		})
	}
}

func TestLookupFailureIsShownNotSent(t *testing.T) {
	crm := &crmService{status: http.StatusBadGateway}
	e := lookupFormsEnv(t, crm)
	_, agent, id := openChat(t, e)
	agent.send(map[string]any{"type": "form_prepare", "conversation": id, "form": "bill", "fields": map[string]string{"reference": "R1"}})
	dr := agent.next(frameFormDraft)
	if dr.Ready || len(dr.Reasons) == 0 || !strings.Contains(dr.Reasons[0], "HTTP 502") || dr.Values["amount"] != "" {
		t.Errorf("draft %+v, want not ready, the reason HTTP 502 and nothing filled", dr)
	}
	agent.send(map[string]any{"type": "form_request", "conversation": id, "form": "bill", "fields": map[string]string{"amount": "42.00", "address": "x", "reference": "R1"}})
	if f := agent.next(frameError); f.Code != "lookup_pending" {
		t.Errorf("form_request after a failed lookup: %s, want lookup_pending", f.Code)
	}
}
