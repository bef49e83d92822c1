package web

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/secureinput/gateway/chatforms"
)

// watchNotifications stands in for the Notification API (granted) and for
// alert(), recording what the page asks of them.
const watchNotifications = `window.__notes = []; window.__alerts = [];
window.Notification = class { constructor(title, opts) { window.__notes.push({title, body: (opts || {}).body || ""}); } close() {} };
window.Notification.permission = "granted";
window.Notification.requestPermission = () => Promise.resolve("granted");
window.alert = m => window.__alerts.push(String(m));`

// TestBrowserConsoleQueueAndChats: queue entries show the wait, the first
// message (redacted) and the page; an offer notifies; accepting opens the
// accepted chat and marks it in My chats; other chats count unread
// messages; errors show in the page, not in alert(); axe finds nothing
// serious on the sign-in page or the console with chats.
func TestBrowserConsoleQueueAndChats(t *testing.T) {
	skipShort(t)
	newContext := browser(t)
	e := formsEnv(t, map[string][]chatforms.Right{"ann": {chatforms.RightInitiate, chatforms.RightSupervisor}})
	base := e.srv.URL
	agent := newContext()
	run(t, agent, "desktop", chromedp.EmulateViewport(1280, 800), bypassCSP(), beforeLoad(watchNotifications),
		chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#login")))
	checkAxe(t, agent, "the console's sign-in page", false)
	consoleLogin(t, agent, base, "ann")

	first := newContext()
	run(t, first, "the first visitor", chromedp.Navigate(base+"/demo/"))
	f1 := chatFrame(t, first)
	visitorSays(t, first, f1, "my card 4111 1111 1111 1111 was charged twice")
	poll(t, agent, "the queue entry", `(() => { const q = document.querySelector("#queue .queue-item"); return q &&
		q.querySelector(".q-first").textContent === "my card ################### was charged twice" &&
		q.querySelector(".q-page").textContent.endsWith("/demo/") && /^waiting \d+ s$/.test(q.querySelector(".wait").textContent); })()`)
	// The chat was offered when the visitor opened it, before its first message.
	poll(t, agent, "the offer notified", `window.__notes.length === 1 && window.__notes[0].title === "New chat waiting" &&
		window.__notes[0].body.startsWith("support")`)
	a := acceptFirst(t, agent)

	second := newContext()
	run(t, second, "the second visitor", chromedp.Navigate(base+"/demo/"))
	f2 := chatFrame(t, second)
	visitorSays(t, second, f2, "hello?")
	b := acceptFirst(t, agent) // fails unless accepting opens the accepted chat
	if got := eval[string](t, agent, "the marked chat", `document.querySelector('#chat-list [aria-current="true"]').dataset.conversation`); got != b {
		t.Errorf("My chats marks %s, want the accepted %s", got, b)
	}

	// A message in the chat not open: a badge on it in My chats.
	visitorSays(t, first, f1, "are you there?")
	poll(t, agent, "one unread in the first chat", `(document.querySelector('#chat-list button[data-conversation="`+a+`"] .unread') || {}).textContent === "1"`)
	screenshot(t, agent, "console")
	checkAxe(t, agent, "the console with two chats", false)
	// Alt+Up goes to it (keyboard) and reads it.
	run(t, agent, "Alt+Up", chromedp.KeyEvent(kb.ArrowUp, chromedp.KeyModifiers(chromedp.ModifierAlt)))
	poll(t, agent, "the first chat is open and read", `!document.querySelector('.chat[data-conversation="`+a+`"]').hidden &&
		!document.querySelector('#chat-list button[data-conversation="`+a+`"] .unread') &&
		document.activeElement === document.querySelector('.chat[data-conversation="`+a+`"] .input')`)

	// An error the server sends shows in the page.
	eval[bool](t, agent, "a refused accept", `(SIGConsole.send({type: "accept", conversation: "no-such-chat"}), true)`)
	poll(t, agent, "the error toast", `[...document.querySelectorAll("#toasts .toast[role=alert]")].some(e => e.textContent.startsWith("Chat no-suc"))`)
	if n := eval[int](t, agent, "alerts", `window.__alerts.length`); n != 0 {
		t.Errorf("the console called alert() %d times", n)
	}

	// The supervisor view: a lock drawn as an icon with a name, not an emoji.
	run(t, agent, "open the supervisor view", chromedp.Click(chromedp.CSS("#open-supervisor")))
	poll(t, agent, "the supervisor view", `!document.getElementById("supervisor").hidden && document.querySelectorAll("#supervised-conversations tbody tr").length === 2`)
	checkAxe(t, agent, "the supervisor view", false)
}

// TestBrowserConsoleKeyboardAndCanned: an agent accepts with the keyboard,
// finds a canned response from the composer by typing "/" and part of its
// title, and sends it; a waiting form's Retry and Cancel go when the
// visitor ends the chat.
func TestBrowserConsoleKeyboardAndCanned(t *testing.T) {
	skipShort(t)
	newContext := browser(t)
	e := formsEnv(t, map[string][]chatforms.Right{"ann": {chatforms.RightInitiate}})
	base := e.srv.URL
	agent := newContext()
	consoleLogin(t, agent, base, "ann")
	visitor := newContext()
	run(t, visitor, "open the shop", chromedp.Navigate(base+"/demo/"))
	frame := chatFrame(t, visitor)
	visitorSays(t, visitor, frame, "I need to pay")
	run(t, agent, "the queue", chromedp.WaitVisible(chromedp.CSS("#queue button.accept")))
	eval[bool](t, agent, "focus the accept button", `(document.querySelector("#queue button.accept").focus(), true)`)
	run(t, agent, "Enter accepts", pressEnter())
	poll(t, agent, "the chat is open", `document.querySelector(".chat:not([hidden])") !== null && document.querySelectorAll("#chat-list button").length === 1`)

	run(t, agent, "type /pay", chromedp.Click(chromedp.CSS(".chat:not([hidden]) .input")), chromedp.SendKeys(chromedp.CSS(".chat:not([hidden]) .input"), "/take"))
	poll(t, agent, "the canned response is suggested", `(() => { const l = document.querySelector(".chat:not([hidden]) .suggestions");
		return !l.hidden && [...l.querySelectorAll("[role=option]")].some(o => o.textContent.startsWith("Take payment")); })()`)
	run(t, agent, "choose it with the keyboard", pressEnter())
	if v := eval[string](t, agent, "composer", `document.querySelector(".chat:not([hidden]) .input").value`); v != "Sending you a secure form now." {
		t.Fatalf("the composer holds %q after choosing the canned response", v)
	}
	run(t, agent, "send it", pressEnter())
	pollWidget(t, visitor, "the canned text arrives", `return [...d.querySelectorAll(".msg.agent .bubble")].some(e => e.textContent === "Sending you a secure form now.");`)
	run(t, agent, "the form's fields are asked", chromedp.WaitVisible(chromedp.CSS(`.chat .agent-fields input[name="amount"]`)),
		chromedp.SendKeys(chromedp.CSS(`.chat .agent-fields input[name="amount"]`), "9.99"), pressEnter())
	poll(t, agent, "waiting, with Cancel", `document.querySelector(".chat .form-state .cancel") !== null`)

	// The visitor ends the chat: no Retry or Cancel, no composer.
	run(t, visitor, "end", chromedp.Click(chromedp.CSS("#end"), chromedp.FromNode(frame)))
	poll(t, agent, "the ended chat offers nothing to do", `(() => { const c = document.querySelector(".chat");
		return c.querySelector(".input").disabled && c.querySelectorAll(".form-state button").length === 0 && !c.querySelector(".close-chat").hidden; })()`)
	pollWidget(t, visitor, "the widget's form is gone and its composer disabled", `return d.getElementById("secure-form").hidden && d.getElementById("input").disabled;`)
	run(t, agent, "close the ended chat", chromedp.Click(chromedp.CSS(".chat .close-chat")))
	poll(t, agent, "no chat left", `document.querySelectorAll(".chat").length === 0 && !document.getElementById("empty-state").hidden`)
}

// TestBrowserCallPanelAndPhone: the call panel opens in the work area (not
// the sidebar) and the demo phone clears its ●●● once the outcome is in;
// axe finds nothing serious on the demo phone.
func TestBrowserCallPanelAndPhone(t *testing.T) {
	skipShort(t)
	newContext := browser(t)
	te := newTelephonyEnv(t)
	base := te.srv.URL
	agent := newContext()
	run(t, agent, "desktop", chromedp.EmulateViewport(1280, 800))
	consoleLogin(t, agent, base, "ann")
	phone := newContext()
	run(t, phone, "the demo phone", chromedp.EmulateViewport(800, 900), bypassCSP(), chromedp.Navigate(base+"/demo/phone/"))
	checkAxe(t, phone, "the demo phone", false)
	run(t, phone, "place a call", chromedp.Click(chromedp.CSS("#place")))
	poll(t, phone, "on a call", `document.getElementById("call").textContent.startsWith("On call")`)
	call := strings.TrimPrefix(eval[string](t, phone, "call id", `document.getElementById("call").textContent`), "On call ")
	te.api(t, "POST", "/calls", `{"call":"`+call+`","agent":"ann","parties":2}`)
	run(t, agent, "secure input on the call",
		chromedp.WaitVisible(chromedp.CSS(`#call-list button.secure-input[data-call="`+call+`"]`)),
		chromedp.Click(chromedp.CSS(`#call-list button.secure-input[data-call="`+call+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.pick-call-form[data-form="credit_card"]`)))
	box := eval[map[string]any](t, agent, "the call panel", `(() => { const p = document.getElementById("call-panel");
		return {inSidebar: !!p.closest(".side, aside, nav"), width: p.getBoundingClientRect().width}; })()`)
	if box["inSidebar"] != false || box["width"].(float64) < 600 {
		t.Errorf("the call panel: in the sidebar %v, %v px wide", box["inSidebar"], box["width"])
	}
	run(t, agent, "send to the IVR",
		chromedp.Click(chromedp.CSS(`.pick-call-form[data-form="credit_card"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.call-fields input[name="amount"]`)),
		chromedp.SendKeys(chromedp.CSS(`.call-fields input[name="amount"]`), "5"),
		chromedp.Click(chromedp.CSS(".send-to-ivr")))
	poll(t, phone, "the prompt", `document.getElementById("prompt").textContent.includes("card number")`)
	for _, k := range "4111111111111111#1240" {
		run(t, phone, "key "+string(k), chromedp.Click(chromedp.CSS(`#keypad button[data-key="`+string(k)+`"]`)))
	}
	poll(t, phone, "the outcome", `document.getElementById("prompt").textContent.includes("accepted")`)
	if keys := eval[string](t, phone, "keys", `document.getElementById("keys").textContent`); keys != "" {
		t.Errorf("the phone still shows %q after the outcome", keys)
	}
	poll(t, agent, "the agent sees the outcome in the panel", `(document.querySelector("#call-panel .call-status") || {}).className?.includes("accepted")`)
}
