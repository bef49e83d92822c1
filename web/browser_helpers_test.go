package web

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/secureinput/gateway/internal/testenv"
)

// bypassCSP lets the test inject axe-core into pages whose Content Security
// Policy forbids any script but their own; it applies from the next load.
func bypassCSP() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true})
		return err
	})
}

// beforeLoad runs script in every document of the tab before its own
// scripts (a stand-in for a browser API the test watches).
func beforeLoad(script string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return err
	})
}

// axeViolation is one serious or critical violation axe-core found.
type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

// axeTags are the rule sets run: WCAG 2.0, 2.1 and 2.2, levels A and AA.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"}

// checkAxe runs axe-core on the page of ctx (in the widget's iframe if
// inFrame) and fails the test on any serious or critical violation. The tab
// must have had bypassCSP before it loaded the page.
func checkAxe(t *testing.T, ctx context.Context, what string, inFrame bool) {
	t.Helper()
	src, _ := json.Marshal(testenv.AxeCore(t))
	tags, _ := json.Marshal(axeTags)
	win := "window"
	if inFrame {
		win = `document.getElementById("sig-chat-frame").contentWindow`
	}
	got := eval[[]axeViolation](t, ctx, "axe on "+what, `(async () => {
		const w = `+win+`;
		if (!w.axe) w.eval(`+string(src)+`);
		const r = await w.axe.run(w.document, {runOnly: {type: "tag", values: `+string(tags)+`}, resultTypes: ["violations"]});
		return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
			.map(v => ({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
	})()`)
	for _, v := range got {
		t.Errorf("axe on %s: %s (%s): %s at %s", what, v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "))
	}
}

// screenshot saves what the tab shows as docs/screenshots/name.png when
// SCREENSHOTS is set (make screenshots), for the README.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("SCREENSHOTS") == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) > 2<<20 {
		t.Fatalf("screenshot %s is %d bytes: over 2 MB", name, len(png))
	}
	if err := os.WriteFile(filepath.Join("..", "docs", "screenshots", name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// inWidget evaluates a JavaScript body inside the widget iframe of the
// current page (same origin in these tests) and returns its value.
func inWidget[T any](t *testing.T, ctx context.Context, what, body string) T {
	t.Helper()
	return eval[T](t, ctx, what, widgetJS(body))
}

// pollWidget waits until a JavaScript body inside the widget returns true.
func pollWidget(t *testing.T, ctx context.Context, what, body string) {
	t.Helper()
	poll(t, ctx, what, widgetJS(body))
}

// acceptFirst accepts the first chat of an agent's queue and waits until
// it is open.
func acceptFirst(t *testing.T, ctx context.Context) string {
	t.Helper()
	run(t, ctx, "wait for the queue", chromedp.WaitVisible(chromedp.CSS("#queue button.accept")))
	id := eval[string](t, ctx, "queued chat", `document.querySelector("#queue button.accept").dataset.conversation`)
	run(t, ctx, "accept", chromedp.Click(chromedp.CSS("#queue button.accept")))
	poll(t, ctx, "the accepted chat is shown", `(() => { const c = document.querySelector('.chat[data-conversation="`+id+`"]'); return c && !c.hidden; })()`)
	return id
}

// agentSays sends a message from the console's open chat.
func agentSays(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	run(t, ctx, "agent types "+text,
		chromedp.SendKeys(chromedp.CSS(".chat:not([hidden]) .input"), text),
		chromedp.Click(chromedp.CSS(".chat:not([hidden]) .send")),
	)
}

// pressEnter presses Enter as a keyboard does: a key-down that carries its
// text (so a page's preventDefault keeps the newline out, as in a real
// browser; chromedp's KeyEvent types it in a separate char event) and a
// key-up.
func pressEnter() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter", Text: "\r", UnmodifiedText: "\r",
			WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		up := down
		up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
		_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, up)
		return err
	})
}

// openChatWithAnn logs ann into the console, opens the demo shop as a
// visitor who asks to pay a bill, and has ann accept the chat.
func openChatWithAnn(t *testing.T, newContext func() context.Context, base string) (agent, visitor context.Context, frame *chromedp.Node) {
	t.Helper()
	agent = newContext()
	consoleLogin(t, agent, base, "ann")
	visitor = newContext()
	run(t, visitor, "open the demo shop", chromedp.Navigate(base+"/demo/"))
	frame = chatFrame(t, visitor)
	visitorSays(t, visitor, frame, "I'd like to pay my bill")
	run(t, agent, "accept",
		chromedp.WaitVisible(chromedp.CSS("#queue button.accept")),
		chromedp.Click(chromedp.CSS("#queue button.accept")),
		chromedp.WaitVisible(chromedp.CSS(".chat .msg .text")),
	)
	return agent, visitor, frame
}

// pickForm types /form in the open chat and picks form, up to its agent
// fields.
func pickForm(form string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS(".chat .input"), "/form"),
		chromedp.Click(chromedp.CSS(".chat .send")),
		chromedp.WaitVisible(chromedp.CSS(`.chat .pick-form[data-form="`+form+`"]`)),
		chromedp.Click(chromedp.CSS(`.chat .pick-form[data-form="`+form+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.chat .agent-fields input[name="amount"]`)),
	)
}
