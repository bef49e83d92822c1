package web

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/secureinput/gateway/card"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/voice"
)

// mirrorCases are run through card (Go) and card.js (the widget) alike.
var mirrorCases = []string{
	"", "3", "34", "37", "35", "352", "3528", "36", "30", "38", "4", "41", "5", "51", "55", "56", "2", "22", "222", "2221", "2720", "2721",
	"6", "60", "6011", "62", "622", "6221", "62212", "622126", "622925", "622926", "64", "644", "65", "67", "6759", "7", "9", "1",
	"220", "2200", "2204", "2205", "50", "5067", "636368", "4011", "401178", "606282", "8600", "9860", "1234",
	"4111 1111 1111 1111", "4111-1111-1111-1112", "4111111111111", "3782 822463 10005", "378282246310005",
	"6011 1111 1111 1117", "5555 5555 5555 4444", "2223 0000 4841 0010", "3566 0020 2036 0505", "6200 0000 0000 0005",
	"6759 6498 2643 8453", "2200 0000 0000 0004", "4000 0000 0000 0002", "7111 1111 1111 1114", "4111 1111 1111 1111 1",
	"４１１１ １１１１ １１１１ １１１１", "4111a1111", "abcd", "36227206271667", "30569309025904",
}

func validateClass(number string) string {
	_, err := card.Validate(number)
	for _, c := range []struct {
		err  error
		name string
	}{{card.ErrCharset, "charset"}, {card.ErrEmpty, "empty"}, {card.ErrBrand, "brand"}, {card.ErrLength, "length"}, {card.ErrLuhn, "luhn"}} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return "ok"
}

func TestCardMirror(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test runs in the full (non -short) pass")
	}
	newContext := browser(t)
	e := newEnv(t, nil)
	ctx := newContext()
	run(t, ctx, "open the chat page", chromedp.Navigate(e.srv.URL+"/chat/?service=support"))
	cases, _ := json.Marshal(mirrorCases)
	got := eval[[]struct{ Brand, Valid string }](t, ctx, "run the cases in JavaScript", `SecureCards.ready.then(() => `+string(cases)+
		`.map(c => ({Brand: SecureCards.brandName(c), Valid: SecureCards.validate(c).error})))`)
	if len(got) != len(mirrorCases) {
		t.Fatalf("JavaScript gave %d results for %d cases", len(got), len(mirrorCases))
	}
	for i, c := range mirrorCases {
		if want := card.BrandName(c); got[i].Brand != want {
			t.Errorf("BrandName(%q): Go %q, JavaScript %q", c, want, got[i].Brand)
		}
		if want := validateClass(c); got[i].Valid != want {
			t.Errorf("Validate(%q): Go %q, JavaScript %q", c, want, got[i].Valid)
		}
	}
	// And every prefix of every brand's ranges.
	var prefixes []string
	for _, b := range card.Brands {
		for _, r := range b.Ranges {
			for n := 1; n <= len(r.From); n++ {
				prefixes = append(prefixes, r.From[:n], r.To[:n])
			}
		}
	}
	ps, _ := json.Marshal(prefixes)
	names := eval[[]string](t, ctx, "prefixes", `SecureCards.ready.then(() => `+string(ps)+`.map(c => SecureCards.brandName(c)))`)
	for i, p := range prefixes {
		if want := card.BrandName(p); names[i] != want {
			t.Errorf("BrandName(%q): Go %q, JavaScript %q", p, want, names[i])
		}
	}
}

// widgetJS runs JavaScript inside the widget iframe of the current page.
func widgetJS(body string) string {
	return `(() => { const d = document.getElementById("sig-chat-frame").contentDocument; const w = document.getElementById("sig-chat-frame").contentWindow; ` + body + ` })()`
}

func TestBrowserSecureForm(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test runs in the full (non -short) pass")
	}
	newContext := browser(t)
	e := formsEnv(t, map[string][]chatforms.Right{"ann": {chatforms.RightInitiate, chatforms.RightSupervisor}})
	base := e.srv.URL

	agent, visitor, frame := openChatWithAnn(t, newContext, base)

	requestCard := func() {
		t.Helper()
		run(t, agent, "type /form",
			pickForm("credit_card"),
			chromedp.SendKeys(chromedp.CSS(`.chat .agent-fields input[name="amount"]`), "42.00"),
			chromedp.Click(chromedp.CSS(".chat .send-form")),
		)
	}
	requestCard()
	poll(t, agent, "the agent sees the request waiting", `(document.querySelector(".chat .form-state") || {}).textContent?.includes("waiting")`)
	poll(t, agent, "the supervisor view marks the conversation with a lock icon and the count",
		`(document.querySelector("#supervised-conversations .secure-count") || {}).textContent === "1" &&
		 document.querySelector("#supervised-conversations .secure-count svg[role=img][aria-label]") !== null`)
	poll(t, agent, "both see the system message", `[...document.querySelectorAll(".chat .secure")].some(e => e.textContent.includes("Secure data has been requested"))`)

	// The customer sees the form; the brand appears as the number is typed.
	run(t, visitor, "the form appears", chromedp.WaitVisible(chromedp.CSS("#sf-card_number"), chromedp.FromNode(frame)))
	run(t, visitor, "type a bad prefix", chromedp.SendKeys(chromedp.CSS("#sf-card_number"), "7", chromedp.FromNode(frame)))
	if b := eval[string](t, visitor, "brand", widgetJS(`return d.getElementById("sf-brand").dataset.brand;`)); b != "Unknown" {
		t.Errorf("brand for 7: %q, want Unknown", b)
	}
	// The chat goes on while the form is open.
	visitorSays(t, visitor, frame, "one moment")
	poll(t, agent, "chat goes on", `[...document.querySelectorAll(".chat .msg .text")].some(e => e.textContent === "one moment")`)

	fill := func(number string) {
		t.Helper()
		eval[bool](t, visitor, "clear the number", widgetJS(`d.getElementById("sf-card_number").value = ""; return true;`))
		run(t, visitor, "fill the form",
			chromedp.SendKeys(chromedp.CSS("#sf-card_number"), number, chromedp.FromNode(frame)),
			chromedp.SendKeys(chromedp.CSS("#sf-expiry"), "12/40", chromedp.FromNode(frame)),
		)
		if b := eval[string](t, visitor, "brand", widgetJS(`return d.getElementById("sf-brand").dataset.brand;`)); b != "Visa" {
			t.Errorf("brand for %s: %q, want Visa", number, b)
		}
		run(t, visitor, "submit", chromedp.Click(chromedp.CSS("#sf-submit"), chromedp.FromNode(frame)))
	}
	// A declined card, then a retry.
	fill("4000 0000 0000 0002")
	poll(t, agent, "declined", `(document.querySelector(".chat .form-state .state") || {}).className?.includes("declined")`)
	poll(t, visitor, "the customer sees the decline", widgetJS(`return (d.getElementById("sf-outcome") || {}).textContent?.startsWith("Declined");`))
	run(t, agent, "retry", chromedp.Click(chromedp.CSS(".chat .form-state .retry")))
	run(t, visitor, "the form comes back", chromedp.WaitVisible(chromedp.CSS("#sf-card_number"), chromedp.FromNode(frame)))
	fill("4111 1111 1111 1111")
	poll(t, agent, "accepted", `(document.querySelector(".chat .form-state .state") || {}).className?.includes("accepted")`)
	state := eval[string](t, agent, "state", `document.querySelector(".chat .form-state").textContent`)
	if !strings.Contains(state, "transaction T") || !strings.Contains(state, "Visa ending 1111") {
		t.Errorf("agent's state line %q", state)
	}
	poll(t, visitor, "the customer sees the acceptance", widgetJS(`return (d.getElementById("sf-outcome") || {}).textContent?.startsWith("Accepted — transaction T");`))

	// A canned response carrying the form, then a customer cancel.
	run(t, agent, "use the canned response",
		chromedp.SendKeys(chromedp.CSS(".chat .input"), "/form"),
		chromedp.Click(chromedp.CSS(".chat .send")),
		chromedp.WaitVisible(chromedp.CSS(".chat .pick-canned")),
		chromedp.Click(chromedp.CSS(".chat .pick-canned")),
		chromedp.WaitVisible(chromedp.CSS(`.chat .agent-fields input[name="amount"]`)),
		chromedp.SendKeys(chromedp.CSS(`.chat .agent-fields input[name="amount"]`), "5"),
		chromedp.Click(chromedp.CSS(".chat .send-form")),
	)
	poll(t, visitor, "the canned text arrives", widgetJS(`return [...d.querySelectorAll(".msg .bubble")].some(e => e.textContent === "Sending you a secure form now.");`))
	run(t, visitor, "the form appears again", chromedp.WaitVisible(chromedp.CSS("#sf-cancel"), chromedp.FromNode(frame)))
	run(t, visitor, "cancel", chromedp.Click(chromedp.CSS("#sf-cancel"), chromedp.FromNode(frame)))
	poll(t, agent, "cancelled", `(document.querySelector(".chat .form-state .state") || {}).className?.includes("cancelled")`)

	// The values never reached the agent, the transcript or the log.
	html := eval[string](t, agent, "agent page", `document.documentElement.outerHTML`)
	e.web.Shutdown(context.Background())
	e.store.Close()
	db, _ := os.ReadFile(e.dbPath)
	wal, _ := os.ReadFile(e.dbPath + "-wal")
	for _, secret := range []string{"4111 1111 1111 1111", "4111111111111111", "4000 0000 0000 0002", "4000000000000002", "12/40"} {
		for name, hay := range map[string]string{"agent page": html, "database": string(db) + string(wal), "log": e.logs.String()} {
			if strings.Contains(hay, secret) {
				t.Errorf("the %s holds %q", name, secret)
			}
		}
	}
}

// TestBrowserSecureIVR drives the console: a call registered by the
// platform, Secure Input → Credit Card → amount → Send to IVR, the platform
// pushes the caller's keys, and the agent sees the outcome and no digit.
func TestBrowserSecureIVR(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test runs in the full (non -short) pass")
	}
	newContext := browser(t)
	te := newTelephonyEnv(t)
	base := te.srv.URL
	agent := newContext()
	consoleLogin(t, agent, base, "ann")
	code, _ := te.api(t, "POST", "/calls", `{"call":"browser-call","agent":"ann","parties":2}`)
	if code != 200 {
		t.Fatalf("register: %d", code)
	}
	run(t, agent, "secure input on the call",
		chromedp.WaitVisible(chromedp.CSS(`#call-list button.secure-input[data-call="browser-call"]`)),
		chromedp.Click(chromedp.CSS(`#call-list button.secure-input[data-call="browser-call"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.pick-call-form[data-form="credit_card"]`)),
		chromedp.Click(chromedp.CSS(`.pick-call-form[data-form="credit_card"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.call-fields input[name="amount"]`)),
		chromedp.SendKeys(chromedp.CSS(`.call-fields input[name="amount"]`), "19.90"),
		chromedp.Click(chromedp.CSS(".send-to-ivr")),
	)
	// The console says "Waiting for caller" as soon as the agent sends the
	// form; the keys go in once the server's frame says the session collects.
	poll(t, agent, "the session collects", `!!document.querySelector("#call-state .call-status.collecting")`)
	for _, k := range []string{"4", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "#", "1", "2", "4", "0"} {
		if code, body := te.api(t, "POST", "/calls/browser-call/session/digits", `{"digits":"`+k+`"}`); code != 200 {
			t.Fatalf("digit %s: %d %s", k, code, body)
		}
	}
	poll(t, agent, "the agent sees the outcome", `(document.querySelector("#call-state .call-status") || {}).className?.includes("accepted")`)
	state := eval[string](t, agent, "state", `document.getElementById("call-state").textContent`)
	if !strings.Contains(state, "transaction T") || !strings.Contains(state, "Visa ending 1111") {
		t.Errorf("agent's call state %q", state)
	}
	html := eval[string](t, agent, "page", `document.documentElement.outerHTML`)
	if strings.Contains(html, "4111111111111111") {
		t.Error("the agent page holds the card number")
	}
}

// TestBrowserDemoPhone places a call from the demo phone page and keys a
// card on its keypad.
func TestBrowserDemoPhone(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test runs in the full (non -short) pass")
	}
	newContext := browser(t)
	// The caller's timeouts are long: this test is about keys reaching the
	// session, on a machine that may be slow.
	te := newTelephonyEnv(t, func(c *voice.ManagerConfig) {
		c.Prompting = voice.Prompting{FirstDigit: time.Minute, InterDigit: time.Minute}
	})
	phone := newContext()
	run(t, phone, "open the demo phone", chromedp.Navigate(te.srv.URL+"/demo/phone/"), chromedp.Click(chromedp.CSS("#place")))
	poll(t, phone, "on a call", `document.getElementById("call").textContent.startsWith("On call")`)
	call := strings.TrimPrefix(eval[string](t, phone, "call id", `document.getElementById("call").textContent`), "On call ")
	// The demo agent is "demo": register ann as the agent of this call to start a session.
	te.api(t, "POST", "/calls", `{"call":"`+call+`","agent":"ann","parties":2}`)
	agent := te.agent(t, "ann")
	agent.send(map[string]any{"type": "call_secure_input", "call": call, "form": "credit_card", "fields": map[string]string{"amount": "1"}})
	poll(t, phone, "the prompt appears", `document.getElementById("prompt").textContent.includes("card number")`)
	// The keypad must not move as prompts and keys come: a click on its way
	// while the page grew or shrank landed beside the key, and the caller
	// never heard the outcome (the flake of TestBrowserDemoPhone).
	layout := func() string {
		return eval[string](t, phone, "layout", `(function () {
			var r = document.getElementById("keypad").getBoundingClientRect();
			return (r.top + window.scrollY) + "/" + r.height + "/" + document.documentElement.scrollHeight; })()`)
	}
	before := layout()
	eval[bool](t, phone, "the longest prompt", `(function () {
		document.getElementById("prompt").textContent = "That was not valid. Please enter the expiry date, two digits for the month and two for the year, then hash.";
		document.getElementById("keys").textContent = "●".repeat(19); return true; })()`)
	if got := layout(); got != before {
		t.Errorf("the keypad moved with a long prompt and 19 keys: %s, before %s", got, before)
	}
	for _, k := range "4111111111111111#1240" {
		run(t, phone, "key "+string(k), chromedp.Click(chromedp.CSS(`#keypad button[data-key="`+string(k)+`"]`)))
	}
	if _, err := chromedp.Run(phone, chromedp.Poll[bool](`document.getElementById("prompt").textContent.includes("accepted")`, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		_, sess := te.api(t, "GET", "/calls/"+call+"/session", "")
		shown := eval[string](t, phone, "the phone", `document.getElementById("prompt").textContent + " | keys " + document.getElementById("keys").textContent`)
		t.Fatalf("the caller did not hear the outcome: %v; the session is %+v; the phone shows %q", err, sess, shown)
	}
	if got := layout(); got != before {
		t.Errorf("the keypad moved: %s, before %s", got, before)
	}
}
