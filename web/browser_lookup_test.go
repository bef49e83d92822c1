package web

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
)

// TestBrowserAgentFormFillsItself opens a form with a lookup service in the
// console: Send form is disabled with the reasons shown while the lookup
// runs and while a required field is empty, the looked-up amount is
// read-only, the address arrives with its card number masked, and a failed
// lookup shows its reason and keeps Send form disabled.
func TestBrowserAgentFormFillsItself(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test runs in the full (non -short) pass")
	}
	newContext := browser(t)
	crm := &crmService{}
	e := lookupFormsEnv(t, crm)
	base := e.srv.URL

	agent, _, _ := openChatWithAnn(t, newContext, base)
	openBill := func() {
		t.Helper()
		run(t, agent, "open the bill form",
			pickForm("bill"),
		)
	}
	openBill()
	poll(t, agent, "the form fills itself", `document.querySelector('.chat .agent-fields input[name="amount"]').value === "42.00"`)
	poll(t, agent, "the address arrives masked", `(() => { const v = document.querySelector('.chat .agent-fields input[name="address"]').value;
		return v.includes("1 Main St") && !v.includes("4111") && v.includes("####") })()`)
	if !eval[bool](t, agent, "the amount is read-only", `document.querySelector('.chat .agent-fields input[name="amount"]').readOnly`) ||
		eval[bool](t, agent, "the address is editable", `document.querySelector('.chat .agent-fields input[name="address"]').readOnly`) {
		t.Error("want the amount read-only and the address editable")
	}
	if !eval[bool](t, agent, "send is disabled", `document.querySelector(".chat .send-form").disabled`) ||
		!eval[bool](t, agent, "the reason is shown", `document.querySelector(".chat .draft-reasons").textContent.includes("Reference is required")`) {
		t.Error("want Send form disabled while the reference is empty, saying why")
	}
	run(t, agent, "type the reference", chromedp.SendKeys(chromedp.CSS(`.chat .agent-fields input[name="reference"]`), "R1"))
	poll(t, agent, "send is enabled", `!document.querySelector(".chat .send-form").disabled && document.querySelector(".chat .draft-reasons").textContent === ""`)
	checkAxe(t, agent, "the console's looked-up form", false)
	run(t, agent, "send", chromedp.Click(chromedp.CSS(".chat .send-form")))
	poll(t, agent, "the request waits", `(document.querySelector(".chat .form-state") || {}).textContent?.includes("waiting")`)
	run(t, agent, "cancel it", chromedp.Click(chromedp.CSS(".chat .form-state .cancel")))
	poll(t, agent, "cancelled", `(document.querySelector(".chat .form-state") || {}).textContent?.includes("cancelled")`)

	crm.mu.Lock()
	crm.status = http.StatusServiceUnavailable
	crm.mu.Unlock()
	openBill()
	poll(t, agent, "the failure is shown", `document.querySelector(".chat .draft-reasons").textContent.includes("HTTP 503")`)
	if !eval[bool](t, agent, "send stays disabled", `document.querySelector(".chat .send-form").disabled`) ||
		eval[string](t, agent, "nothing is filled", `document.querySelector('.chat .agent-fields input[name="amount"]').value`) != "" {
		t.Error("a failed lookup: want Send form disabled and nothing filled")
	}
	crm.mu.Lock()
	crm.status = 0
	crm.mu.Unlock()
	run(t, agent, "look up again", chromedp.Click(chromedp.CSS(".chat .lookup-again")))
	poll(t, agent, "the form fills itself again", `document.querySelector('.chat .agent-fields input[name="amount"]').value === "42.00"`)
}

// TestBrowserWidgetSignedAttributes embeds the widget in a website's page
// whose script tag carries the visitor's signed attributes, and a second
// page that forges them: the lookup gets the signed id as a site attribute,
// the forged one only as unverified.
func TestBrowserWidgetSignedAttributes(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test runs in the full (non -short) pass")
	}
	var page atomic.Value
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page.Load().(string))
	}))
	t.Cleanup(site.Close)
	crm := &crmService{}
	e := lookupFormsEnv(t, crm, site.URL)
	newContext := browser(t)
	agent := e.agent(t, "ann")
	exp := time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct {
		name, id, signedID, want string
		byCall                   bool
	}{
		{"signed", "C-1001", "C-1001", "interaction.site.customer_id", false},
		{"forged", "C-2002", "C-1001", "interaction.unverified.customer_id", false},
		{"signed through identify", "C-3003", "C-3003", "interaction.site.customer_id", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig := chatforms.SignSite(testSiteSecret, map[string]string{"customer_id": tc.signedID}, exp)
			if tc.byCall {
				page.Store(fmt.Sprintf(`<!doctype html><html lang="en"><title>Shop</title><body><h1>Shop</h1>
<script src="%s/widget.js" data-service="support"></script>
<script>SecureInputGateway.identify({customer_id: "%s"}, %d, "%s")</script>`, e.srv.URL, tc.id, exp, sig))
			} else {
				page.Store(fmt.Sprintf(`<!doctype html><html lang="en"><title>Shop</title><body><h1>Shop</h1>
<script src="%s/widget.js" data-service="support" data-attributes='{"customer_id":"%s"}' data-attributes-expires="%d" data-attributes-signature="%s" async></script>`,
					e.srv.URL, tc.id, exp, sig))
			}
			visitor := newContext()
			run(t, visitor, "open the shop", chromedp.Navigate(site.URL+"/checkout"))
			frame := chatFrame(t, visitor)
			visitorSays(t, visitor, frame, "hello")
			id := agent.next(chat.FrameOffer).Conversation
			agent.send(map[string]any{"type": "accept", "conversation": id})
			agent.send(map[string]any{"type": "form_prepare", "conversation": id, "form": "bill", "fields": map[string]string{}})
			agent.next(frameFormDraft)
			got := crm.last().Attributes
			if got[tc.want] != tc.id || (tc.name == "forged" && got["interaction.site.customer_id"] != "") {
				t.Errorf("the lookup got %v, want %s = %s only", got, tc.want, tc.id)
			}
			agent.send(map[string]any{"type": "end", "conversation": id})
		})
	}
}
