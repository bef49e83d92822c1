package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/secure"
)

// TestCallFormWithLookupAndAttributes uses a form with a lookup on a call:
// the lookup gets the caller and account the platform registered, fills the
// read-only amount, and the validation service receives the attributes
// beside the keyed card; a failed lookup refuses Send to IVR with its
// reason.
func TestCallFormWithLookupAndAttributes(t *testing.T) {
	crm := &crmService{answer: `{"values":{"amount":"42.00"}}`}
	srv := httptest.NewServer(crm)
	t.Cleanup(srv.Close)
	eng, _ := redact.New(redact.DefaultConfig())
	lookup, err := secure.NewLookup(secure.LookupConfig{ClientConfig: secure.ClientConfig{URL: srv.URL, Timeout: time.Second}, Redact: eng})
	if err != nil {
		t.Fatal(err)
	}
	form := chatforms.Form{Name: "bill", Title: "Pay the bill", Workgroups: []string{"support"}, Lookup: lookup,
		Attributes:            map[string]string{"tenant": "north"},
		InteractionAttributes: []string{chatforms.AttrCaller, chatforms.AttrAccount},
		Fields: []secure.Field{
			{ID: "amount", Name: "Amount due", Kind: secure.KindAmount, AgentFills: true, ReadOnly: true},
			{ID: "card_number", Name: "Card number", Kind: secure.KindCardNumber},
			{ID: "expiry", Name: "Expiry", Kind: secure.KindExpiry},
		}}
	te := newTelephonyEnvForms(t, []chatforms.Form{form})
	agent := te.agent(t, "ann")
	if code, body := te.api(t, "POST", "/calls", `{"call":"call-9","agent":"ann","parties":2,"caller":"+15551234567","account":"A-77"}`); code != 200 ||
		body["caller"] != nil {
		t.Fatalf("register call: %d %v (want the caller not echoed)", code, body)
	}
	agent.next(frameCalls)

	crm.mu.Lock()
	crm.status = http.StatusInternalServerError
	crm.mu.Unlock()
	agent.send(map[string]any{"type": "call_form_prepare", "call": "call-9", "form": "bill", "fields": map[string]string{}})
	if dr := agent.next(frameFormDraft); dr.Call != "call-9" || dr.Ready || len(dr.Reasons) != 1 || !strings.Contains(dr.Reasons[0], "HTTP 500") {
		t.Errorf("the call's draft after a failed lookup: %+v, want not ready saying HTTP 500", dr)
	}
	agent.send(map[string]any{"type": "call_secure_input", "call": "call-9", "form": "bill", "mode": "hold", "fields": map[string]string{}})
	if f := agent.next(frameError); f.Code != "form_not_ready" || !strings.Contains(f.Message, "HTTP 500") {
		t.Errorf("a failed lookup: %s %q, want form_not_ready saying HTTP 500", f.Code, f.Message)
	}
	crm.mu.Lock()
	crm.status = 0
	crm.mu.Unlock()
	agent.send(map[string]any{"type": "call_form_prepare", "call": "call-9", "form": "bill", "fields": map[string]string{"amount": ""}})
	if dr := agent.next(frameFormDraft); !dr.Ready || dr.Values["amount"] != "42.00" || len(dr.ReadOnly) != 1 {
		t.Errorf("the call's draft: %+v, want ready with the looked-up, read-only amount", dr)
	}
	agent.send(map[string]any{"type": "call_secure_input", "call": "call-9", "form": "bill", "mode": "hold", "fields": map[string]string{"amount": "1.00"}})
	if f := agent.next(frameError); f.Code != "read_only_field" {
		t.Errorf("a changed read-only amount on a call: %s, want read_only_field", f.Code)
	}

	agent.send(map[string]any{"type": "call_secure_input", "call": "call-9", "form": "bill", "mode": "hold", "fields": map[string]string{}})
	sessionState(t, agent, "collecting")
	if got := crm.last().Attributes; got["interaction.caller"] != "+15551234567" || got["interaction.account"] != "A-77" || got["tenant"] != "north" {
		t.Errorf("the lookup got %v, want the caller, the account and the form's attribute", got)
	}
	for _, digits := range []string{"4111111111111111#", "1240"} {
		if code, _ := te.api(t, "POST", "/calls/call-9/session/digits", `{"digits":"`+digits+`"}`); code != 200 {
			t.Fatalf("digits: %d", code)
		}
	}
	for {
		if f := agent.next(frameCallSession); formAsMap(t, f.Outcome)["state"] == "ended" {
			break
		}
	}
	te.mgr.Close(context.Background())
	te.mu.Lock()
	body := strings.Join(te.validationBodies, "\n")
	te.mu.Unlock()
	for _, want := range []string{`<param name="amount" value="42.00" />`, `<param name="attr.interaction.account" value="A-77" />`,
		`<param name="attr.interaction.caller" value="+15551234567" />`, `<param name="attr.tenant" value="north" />`} {
		if !strings.Contains(body, want) {
			t.Errorf("the validation request lacks %s:\n%s", want, body)
		}
	}
}
