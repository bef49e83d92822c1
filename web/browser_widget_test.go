package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/redact"
)

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("the browser test runs in the full (non -short) pass")
	}
}

// widgetSettled waits until the widget iframe has asked whether anyone
// answers (its status line no longer says it is connecting).
func widgetSettled(t *testing.T, ctx context.Context) {
	t.Helper()
	poll(t, ctx, "the widget has loaded", `(() => { const f = document.getElementById("sig-chat-frame"); const d = f && f.contentDocument;
		return !!d && !!d.getElementById("status") && d.getElementById("status").textContent !== "Connecting…" && d.getElementById("status").textContent !== ""; })()`)
}

// TestBrowserNoConversationUntilOpened: viewing pages with the widget
// creates nothing; opening the chat while an agent answers creates one
// conversation; with nobody there, the widget says so, offers to leave a
// message, and only the message left creates the conversation.
func TestBrowserNoConversationUntilOpened(t *testing.T) {
	skipShort(t)
	newContext := browser(t)
	e := newEnv(t, nil)
	base := e.srv.URL

	visitor := newContext()
	run(t, visitor, "open the demo shop", chromedp.Navigate(base+"/demo/"))
	widgetSettled(t, visitor)
	run(t, visitor, "view another page", chromedp.Reload())
	widgetSettled(t, visitor)
	if n := e.hub.Live(); n != 0 {
		t.Fatalf("two page views with the widget closed created %d conversations, want 0", n)
	}

	// Nobody signed in: the widget says so and offers to leave a message.
	frame := chatFrame(t, visitor)
	pollWidget(t, visitor, "the offline notice", `return !d.getElementById("notice").hidden &&
		d.getElementById("notice").textContent.includes("No agent is available right now") &&
		d.getElementById("notice").textContent.includes("Leave a message") && d.getElementById("input").placeholder === "Leave a message";`)
	if n := e.hub.Live(); n != 0 {
		t.Fatalf("opening the widget with nobody to answer created %d conversations, want 0", n)
	}
	visitorSays(t, visitor, frame, "Please call me back about order 1234")
	poll(t, visitor, "the message left is delivered", widgetJS(`return d.querySelector(".msg.visitor") && d.querySelector(".msg.visitor").dataset.state === "delivered";`))
	if n := e.hub.Live(); n != 1 {
		t.Fatalf("a message left created %d conversations, want 1", n)
	}

	// With an agent available, opening the chat creates the conversation.
	agent := newContext()
	consoleLogin(t, agent, base, "ann")
	poll(t, agent, "the message left waits in the queue with its text",
		`[...document.querySelectorAll("#queue .q-first")].some(e => e.textContent === "Please call me back about order 1234")`)
	other := newContext()
	run(t, other, "another visitor opens the shop", chromedp.Navigate(base+"/demo/"))
	widgetSettled(t, other)
	if n := e.hub.Live(); n != 1 {
		t.Fatalf("a page view created a conversation (%d live), want still 1", n)
	}
	chatFrame(t, other)
	pollWidget(t, other, "the visitor waits in the queue", `return d.getElementById("status").textContent === "You are number 2 in the queue";`)
	if n := e.hub.Live(); n != 2 {
		t.Fatalf("opening the chat with an agent available: %d live conversations, want 2", n)
	}
}

// TestBrowserWidgetOnPhone: at 375 px the widget is full screen with a
// minimise control, focus moves into the chat, Escape closes it and gives
// focus back to the launcher, whose label says what it does.
func TestBrowserWidgetOnPhone(t *testing.T) {
	skipShort(t)
	newContext := browser(t)
	e := newEnv(t, nil)
	visitor := newContext()
	run(t, visitor, "a phone", chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile, chromedp.EmulateTouch), bypassCSP(),
		chromedp.Navigate(e.srv.URL+"/demo/"))
	widgetSettled(t, visitor)
	if got := eval[string](t, visitor, "launcher label", `document.getElementById("sig-launcher").textContent`); got != "Chat with us" {
		t.Errorf("closed launcher says %q", got)
	}
	chatFrame(t, visitor)
	rect := eval[[]float64](t, visitor, "iframe box", `(() => { const r = document.getElementById("sig-chat-frame").getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
	if rect[0] != 0 || rect[1] != 0 || rect[2] != 375 || rect[3] != 740 {
		t.Errorf("at 375×740 the chat's box is %v, want full screen [0 0 375 740]", rect)
	}
	if eval[bool](t, visitor, "launcher", `document.getElementById("sig-launcher").getBoundingClientRect().width > 0`) {
		t.Error("the launcher still covers the full-screen chat")
	}
	poll(t, visitor, "focus is in the message box", `document.activeElement && document.activeElement.id === "sig-chat-frame" &&
		document.getElementById("sig-chat-frame").contentDocument.activeElement.id === "input"`)
	if !inWidget[bool](t, visitor, "minimise control", `const b = d.getElementById("minimise"); return !b.hidden && b.getAttribute("aria-label") === "Minimise chat" && b.getBoundingClientRect().width > 0;`) {
		t.Error("no visible minimise control with a label")
	}
	checkAxe(t, visitor, "the widget on a phone", true)
	screenshot(t, visitor, "widget-phone")
	run(t, visitor, "Escape", chromedp.KeyEvent(kb.Escape))
	poll(t, visitor, "Escape closes the chat and focus returns to the launcher",
		`document.getElementById("sig-chat-frame").hidden && document.activeElement.id === "sig-launcher" &&
		 document.getElementById("sig-launcher").getAttribute("aria-expanded") === "false"`)

	// On a desktop the open launcher says it closes the chat.
	desk := newContext()
	run(t, desk, "a desktop", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(e.srv.URL+"/demo/"))
	chatFrame(t, desk)
	if got := eval[string](t, desk, "launcher label", `document.getElementById("sig-launcher").textContent`); got != "Close chat" {
		t.Errorf("the open launcher says %q, want Close chat", got)
	}
	box := eval[[]float64](t, desk, "iframe box", `(() => { const r = document.getElementById("sig-chat-frame").getBoundingClientRect(); return [r.left, r.right]; })()`)
	if box[0] < 0 || box[1] > 1280 {
		t.Errorf("the chat's box %v leaves the 1280 px window", box)
	}
}

// TestBrowserWidgetConversation: the service's title and greeting, the
// agent's name and initials, timestamps, delivered state, typing, the
// unread count on the launcher, and, once the visitor ends the chat, a
// widget and a console that no longer take input.
func TestBrowserWidgetConversation(t *testing.T) {
	skipShort(t)
	newContext := browser(t)
	services := []chat.Service{{Name: "support", Title: "Acme help desk", Workgroup: "support", Greeting: "Hello from Acme!"}, {Name: "sales", Workgroup: "sales"}}
	e := newEnvServices(t, 0, services, nil)
	base := e.srv.URL
	agent := newContext()
	run(t, agent, "desktop", chromedp.EmulateViewport(1280, 800), bypassCSP())
	consoleLogin(t, agent, base, "ann")
	visitor := newContext()
	run(t, visitor, "desktop", chromedp.EmulateViewport(1280, 800), bypassCSP(), chromedp.Navigate(base+"/demo/"))
	frame := chatFrame(t, visitor)
	pollWidget(t, visitor, "the service's title and greeting", `return d.getElementById("title").textContent === "Acme help desk" &&
		d.getElementById("greeting").textContent === "Hello from Acme!";`)
	checkAxe(t, visitor, "the demo shop with the widget open", false)
	visitorSays(t, visitor, frame, "Hi, where is my order?")
	pollWidget(t, visitor, "the visitor's message is marked delivered, with a time", `const m = d.querySelector(".msg.visitor");
		return m && m.dataset.state === "delivered" && m.querySelector(".meta").textContent.includes("Delivered") && !!m.querySelector("time[datetime]");`)

	acceptFirst(t, agent)
	pollWidget(t, visitor, "the agent's name and initials", `return d.getElementById("status").textContent === "You are chatting with Ann" &&
		d.getElementById("head-avatar").textContent === "A";`)
	run(t, agent, "the agent types", chromedp.SendKeys(chromedp.CSS(".chat:not([hidden]) .input"), "Let me check"))
	pollWidget(t, visitor, "the visitor sees the agent typing", `return d.getElementById("typing").textContent === "Ann is typing…";`)
	run(t, visitor, "the visitor types", chromedp.SendKeys(chromedp.CSS("#input"), "thanks", chromedp.FromNode(frame)))
	poll(t, agent, "the agent sees the visitor typing", `document.querySelector(".chat:not([hidden]) .chat-typing").textContent === "The visitor is typing…"`)
	run(t, agent, "send", chromedp.Click(chromedp.CSS(".chat:not([hidden]) .send")))
	pollWidget(t, visitor, "the agent's message, its avatar and time; typing is over", `const m = d.querySelector(".msg.agent");
		return m && m.querySelector(".bubble").textContent === "Let me check" && m.querySelector(".avatar").textContent === "A" &&
		!!m.querySelector("time") && d.getElementById("typing").textContent === "";`)
	screenshot(t, visitor, "widget")

	// Closed, the launcher counts the agent's new messages.
	run(t, visitor, "minimise", chromedp.Click(chromedp.CSS("#minimise"), chromedp.FromNode(frame)))
	poll(t, visitor, "closed", `document.getElementById("sig-chat-frame").hidden`)
	agentSays(t, agent, "Found it: it ships today.")
	agentSays(t, agent, "Anything else?")
	poll(t, visitor, "two unread on the launcher", `(() => { const b = document.getElementById("sig-unread"); return !b.hidden && b.textContent === "2" &&
		document.getElementById("sig-launcher").getAttribute("aria-label").includes("2 unread"); })()`)
	run(t, visitor, "open again", chromedp.Click(chromedp.CSS("#sig-launcher")))
	poll(t, visitor, "read", `document.getElementById("sig-unread").hidden`)

	// The visitor ends the chat: nothing can be typed on either side.
	run(t, visitor, "end", chromedp.Click(chromedp.CSS("#end"), chromedp.FromNode(frame)))
	pollWidget(t, visitor, "the widget's composer is disabled", `return d.getElementById("input").disabled && d.getElementById("send").disabled &&
		d.getElementById("end").textContent === "Start a new chat";`)
	poll(t, agent, "the console's composer is disabled and the chat can be closed", `(() => { const c = document.querySelector(".chat:not([hidden])");
		return c.querySelector(".input").disabled && c.querySelector(".send").disabled && c.querySelector(".end").hidden &&
		c.querySelector(".leave").hidden && !c.querySelector(".close-chat").hidden; })()`)
}

// TestBrowserWidgetTheming: the script tag's colour, position, title,
// greeting and language reach the launcher and the chat; the chat stays
// in an iframe the host page cannot read.
func TestBrowserWidgetTheming(t *testing.T) {
	skipShort(t)
	newContext := browser(t)
	host := httptest.NewServer(nil)
	t.Cleanup(host.Close)
	e := newEnv(t, func(c *Config) { c.AllowedOrigins = []string{host.URL} })
	host.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><title>Host</title></head><body><h1>Host shop</h1>
<script src="%s/widget.js" data-service="support" data-color="#ffcc00" data-position="left" data-lang="de" data-title="Hilfe" data-greeting="Willkommen im Laden!" async></script></body></html>`, e.srv.URL)
	})
	visitor := newContext()
	run(t, visitor, "open the host page", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(host.URL+"/"))
	run(t, visitor, "launcher", chromedp.WaitVisible(chromedp.CSS("#sig-launcher")))
	got := eval[[]string](t, visitor, "launcher", `(() => { const b = document.getElementById("sig-launcher"); const s = getComputedStyle(b);
		return [b.textContent, s.left, s.backgroundColor, s.color]; })()`)
	if want := []string{"Hilfe", "20px", "rgb(255, 204, 0)", "rgb(17, 17, 17)"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("launcher (label, left, background, text) = %q, want %q", got, want)
	}
	src := eval[string](t, visitor, "iframe src", `document.getElementById("sig-chat-frame").src`)
	if !strings.HasPrefix(src, e.srv.URL+"/chat/?") {
		t.Errorf("the chat is served from %q, want the gateway's /chat/", src)
	}
	if eval[bool](t, visitor, "host reads the iframe", `(() => { try { return document.getElementById("sig-chat-frame").contentDocument !== null; } catch (e) { return false; } })()`) {
		t.Error("the host page can read the chat's document")
	}

	// The chat page itself, with what the loader passed on.
	chatPage := newContext()
	run(t, chatPage, "open the chat page as the iframe does", chromedp.Navigate(src))
	poll(t, chatPage, "themed in German", `document.documentElement.lang === "de" && document.getElementById("title").textContent === "Hilfe" &&
		document.getElementById("greeting").textContent === "Willkommen im Laden!" && document.getElementById("input").placeholder !== "Type a message" &&
		getComputedStyle(document.querySelector(".head")).backgroundColor === "rgb(255, 204, 0)" &&
		getComputedStyle(document.querySelector(".head")).color === "rgb(17, 17, 17)"`)
}

// TestBrowserWidgetLanguages: every string of the widget exists in
// English, French, German and Spanish, and each language is used.
func TestBrowserWidgetLanguages(t *testing.T) {
	skipShort(t)
	newContext := browser(t)
	e := newEnv(t, nil)
	ctx := newContext()
	// Nobody is signed in: the widget offers to leave a message.
	want := map[string][2]string{"en": {"Send", "Leave a message"}, "fr": {"Envoyer", "Laissez un message"},
		"de": {"Senden", "Nachricht hinterlassen"}, "es": {"Enviar", "Deja un mensaje"}}
	for lang, w := range want {
		run(t, ctx, "open the chat in "+lang, chromedp.Navigate(e.srv.URL+"/chat/?service=support&lang="+lang))
		poll(t, ctx, "the chat in "+lang, `document.documentElement.lang === "`+lang+`" && document.getElementById("send").getAttribute("aria-label") === "`+w[0]+`" &&
			document.getElementById("input").placeholder === "`+w[1]+`"`)
	}
	missing := eval[[]string](t, ctx, "every key in every language", `(() => { const s = SIG_I18N.strings, out = [];
		for (const l of ["fr", "de", "es"]) for (const k of Object.keys(s.en)) if (!s[l][k]) out.push(l + ":" + k);
		for (const l of ["fr", "de", "es"]) for (const k of Object.keys(s[l])) if (!(k in s.en)) out.push(l + " extra:" + k);
		return out; })()`)
	if len(missing) > 0 {
		t.Errorf("strings missing: %v", missing)
	}
}

// TestBrowserOutsideHours: outside the service's hours the widget says no
// agent is available even with agents signed in.
func TestBrowserOutsideHours(t *testing.T) {
	skipShort(t)
	newContext := browser(t)
	// Open all day, on a day that is not today (in UTC, the hours' zone).
	other := (time.Now().UTC().Weekday() + 3) % 7
	spec := strings.ToLower(other.String()[:3]) + " 00:00-24:00"
	hours, err := chat.ParseHours([]string{spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvServices(t, 0, []chat.Service{{Name: "support", Workgroup: "support", Hours: hours}}, nil)
	agent := newContext()
	consoleLogin(t, agent, e.srv.URL, "ann")
	visitor := newContext()
	run(t, visitor, "open the shop", chromedp.Navigate(e.srv.URL+"/demo/"))
	chatFrame(t, visitor)
	pollWidget(t, visitor, "closed hours", `return d.getElementById("notice").textContent.includes("outside our opening hours") &&
		d.getElementById("status").textContent === "No agent is available right now";`)
	if n := e.hub.Live(); n != 0 {
		t.Errorf("opening the chat outside hours created %d conversations", n)
	}
}

// TestBrowserWidgetFailedAndPlace: a message that could not be redacted is
// marked Not delivered (nothing of it stored or shown to the agent), and a
// waiting visitor's place in the queue moves up as chats ahead are taken.
func TestBrowserWidgetFailedAndPlace(t *testing.T) {
	skipShort(t)
	newContext := browser(t)
	// (a+)+$ takes far longer than its time limit on "aaa…ab": redaction
	// cannot finish and the message is withheld.
	e := newEnvOpts(t, envOptions{Redaction: &redact.Config{Default: true, Additional: []string{`(a+)+$`}, Timeout: 20 * time.Millisecond}}, nil)
	base := e.srv.URL
	first := newContext()
	run(t, first, "the first visitor", chromedp.Navigate(base+"/demo/"))
	f1 := chatFrame(t, first)
	visitorSays(t, first, f1, "first in line")
	second := newContext()
	run(t, second, "the second visitor", chromedp.Navigate(base+"/demo/"))
	f2 := chatFrame(t, second)
	visitorSays(t, second, f2, "second in line")
	pollWidget(t, second, "second in the queue", `return d.getElementById("status").textContent === "You are number 2 in the queue";`)
	visitorSays(t, second, f2, strings.Repeat("a", 40)+"b")
	pollWidget(t, second, "the withheld message is marked", `const m = [...d.querySelectorAll(".msg.visitor")].pop();
		return m.classList.contains("failed") && m.dataset.state === "failed" && m.querySelector(".meta").textContent.includes("Not delivered");`)

	agent := newContext()
	consoleLogin(t, agent, base, "ann")
	acceptFirst(t, agent)
	pollWidget(t, second, "next in the queue", `return d.getElementById("status").textContent === "You are next in the queue";`)
	if html := eval[string](t, agent, "agent page", `document.documentElement.outerHTML`); strings.Contains(html, strings.Repeat("a", 40)) {
		t.Error("the agent's page holds the withheld message")
	}
}
