package web

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/secureinput/gateway/chatforms"
)

// TestBrowserSecureFormLayout: the form opens below the agent's last
// message without squeezing or covering the history, the agent's typing
// indicator is gone, the amount the agent entered is shown read-only, the
// number is grouped for its brand with the brand's icon beside it, each
// error sits under its own field (not after the brand) and goes as soon as
// the field is right, and axe finds nothing serious in the widget.
func TestBrowserSecureFormLayout(t *testing.T) {
	skipShort(t)
	newContext := browser(t)
	e := formsEnv(t, map[string][]chatforms.Right{"ann": {chatforms.RightInitiate}})
	base := e.srv.URL
	agent := newContext()
	run(t, agent, "desktop", chromedp.EmulateViewport(1280, 800), bypassCSP())
	consoleLogin(t, agent, base, "ann")
	visitor := newContext()
	run(t, visitor, "desktop", chromedp.EmulateViewport(1280, 800), bypassCSP(), chromedp.Navigate(base+"/demo/"))
	frame := chatFrame(t, visitor)
	for _, m := range []string{"Hello", "I want to pay my invoice", "It is invoice 77", "Thanks"} {
		visitorSays(t, visitor, frame, m)
	}
	acceptFirst(t, agent)
	agentSays(t, agent, "Sure, I am sending you a secure form for the 42.00 due.")
	pollWidget(t, visitor, "the agent's message arrives", `return [...d.querySelectorAll(".msg.agent .bubble")].some(b => b.textContent.startsWith("Sure"));`)

	run(t, agent, "type /form (the visitor sees the agent typing)", chromedp.SendKeys(chromedp.CSS(".chat:not([hidden]) .input"), "/form"))
	run(t, agent, "send /form and fill the amount",
		chromedp.Click(chromedp.CSS(".chat:not([hidden]) .send")),
		chromedp.WaitVisible(chromedp.CSS(`.chat .pick-form[data-form="credit_card"]`)),
		chromedp.Click(chromedp.CSS(`.chat .pick-form[data-form="credit_card"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.chat .agent-fields input[name="amount"]`)),
		chromedp.SendKeys(chromedp.CSS(`.chat .agent-fields input[name="amount"]`), "42.00"),
		chromedp.Click(chromedp.CSS(".chat .send-form")),
	)
	run(t, visitor, "the form appears", chromedp.WaitVisible(chromedp.CSS("#sf-card_number"), chromedp.FromNode(frame)))
	got := inWidget[map[string]any](t, visitor, "the layout with the form open", `
		const sc = d.getElementById("scroller").getBoundingClientRect();
		const agentMsgs = [...d.querySelectorAll(".msg.agent")];
		const last = agentMsgs[agentMsgs.length - 1].getBoundingClientRect();
		const form = d.getElementById("secure-form").getBoundingClientRect();
		return {history: sc.height, lastVisible: last.top >= sc.top && last.bottom <= sc.bottom,
			covered: last.bottom > form.top && last.top < form.bottom, typing: d.getElementById("typing").textContent,
			amount: (d.getElementById("sf-given-amount") || {}).textContent || "", note: d.getElementById("sf-note").textContent,
			focus: d.activeElement.id};`)
	if h, _ := got["history"].(float64); h < 300 {
		t.Errorf("the history is squeezed to %.0f px with the form open", h)
	}
	if got["lastVisible"] != true || got["covered"] != false {
		t.Errorf("the agent's last message: visible %v, covered by the form %v", got["lastVisible"], got["covered"])
	}
	if got["typing"] != "" {
		t.Errorf("the widget still says %q after the agent sent /form", got["typing"])
	}
	if got["amount"] != "42.00" {
		t.Errorf("the customer sees the amount %q, want 42.00", got["amount"])
	}
	if !strings.Contains(got["note"].(string), "Only the payment service sees what you type here") {
		t.Errorf("the form's note: %q", got["note"])
	}
	if got["focus"] != "sf-card_number" {
		t.Errorf("focus is on %q, want the card number", got["focus"])
	}

	// Grouped as typed, for the brand; the brand as an icon in the field.
	run(t, visitor, "type a Visa number", chromedp.SendKeys(chromedp.CSS("#sf-card_number"), "4111111111111112", chromedp.FromNode(frame)))
	if v := inWidget[string](t, visitor, "value", `return d.getElementById("sf-card_number").value;`); v != "4111 1111 1111 1112" {
		t.Errorf("the number shows as %q, want 4111 1111 1111 1112", v)
	}
	if v := inWidget[string](t, visitor, "icon", `const i = d.getElementById("sf-brand-icon"); return i.closest(".with-brand") ? i.textContent : "outside the field";`); v != "VISA" {
		t.Errorf("the brand icon beside the field shows %q, want VISA", v)
	}
	run(t, visitor, "move on", chromedp.Click(chromedp.CSS("#sf-expiry"), chromedp.FromNode(frame)))
	errState := inWidget[[]string](t, visitor, "the error", `const i = d.getElementById("sf-card_number"), e = d.getElementById("sf-error-card_number");
		return [e.textContent, i.getAttribute("aria-invalid"), String(i.getAttribute("aria-describedby").split(" ").includes(e.id)),
			String(e.previousElementSibling && e.previousElementSibling.classList.contains("brand") || false)];`)
	if errState[0] != "This card number is not valid: check the digits." || errState[1] != "true" || errState[2] != "true" || errState[3] != "false" {
		t.Errorf("error (text, aria-invalid, described by, after the brand) = %q", errState)
	}
	if strings.HasPrefix(errState[0], "Visa") {
		t.Errorf("the error reads %q", errState[0])
	}
	checkAxe(t, visitor, "the widget with a secure form and an error", true)
	screenshot(t, visitor, "secure-form")
	// Fixed: the error goes at once, before any submit.
	run(t, visitor, "fix the last digit", chromedp.Click(chromedp.CSS("#sf-card_number"), chromedp.FromNode(frame)), chromedp.KeyEvent(kb.End),
		chromedp.KeyEvent(kb.Backspace), chromedp.KeyEvent("1"))
	if s := inWidget[[]string](t, visitor, "after the fix", `const i = d.getElementById("sf-card_number");
		return [d.getElementById("sf-error-card_number").textContent, i.getAttribute("aria-invalid"), i.value];`); s[0] != "" || s[1] != "false" || s[2] != "4111 1111 1111 1111" {
		t.Errorf("after the fix (error, aria-invalid, value) = %q, want no error", s)
	}
	// American Express groups 4-6-5.
	inWidget[bool](t, visitor, "clear", `d.getElementById("sf-card_number").value = ""; return true;`)
	run(t, visitor, "type an Amex", chromedp.SendKeys(chromedp.CSS("#sf-card_number"), "378282246310005", chromedp.FromNode(frame)))
	if v := inWidget[string](t, visitor, "value", `return d.getElementById("sf-card_number").value;`); v != "3782 822463 10005" {
		t.Errorf("the Amex shows as %q, want 3782 822463 10005", v)
	}
	// And a valid card goes through.
	inWidget[bool](t, visitor, "clear", `d.getElementById("sf-card_number").value = ""; return true;`)
	run(t, visitor, "fill and send",
		chromedp.SendKeys(chromedp.CSS("#sf-card_number"), "4111111111111111", chromedp.FromNode(frame)),
		chromedp.SendKeys(chromedp.CSS("#sf-expiry"), "12/40", chromedp.FromNode(frame)),
		chromedp.Click(chromedp.CSS("#sf-submit"), chromedp.FromNode(frame)))
	pollWidget(t, visitor, "accepted", `return (d.getElementById("sf-outcome") || {}).textContent?.startsWith("Accepted — transaction T");`)
}
