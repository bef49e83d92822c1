package web

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/secureinput/gateway/internal/testenv"
)

// browser starts headless Chromium and returns a function that opens a new,
// isolated browser context (its own cookies and storage) in it.
func browser(t *testing.T) func() context.Context {
	t.Helper()
	path := testenv.Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(alloc)
	if err := chromedp.Do(root); err != nil {
		cancelRoot()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancelRoot(); cancelAlloc() })
	return func() context.Context {
		ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
		ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
		t.Cleanup(func() { cancelTimeout(); cancel() })
		return ctx
	}
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval runs a JavaScript expression (awaiting a promise) and returns its value.
func eval[T any](t *testing.T, ctx context.Context, what, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// poll waits until a JavaScript expression is true.
func poll(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// consoleLogin logs an agent in through the console page and makes them
// available.
func consoleLogin(t *testing.T, ctx context.Context, base, login string) {
	t.Helper()
	run(t, ctx, login+" logs in",
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), login),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#available")),
		chromedp.Click(chromedp.CSS("#available")),
	)
	poll(t, ctx, login+" is available", `document.getElementById("available").checked`)
}

// chatFrame returns the widget's iframe on the current page, opening it.
func chatFrame(t *testing.T, ctx context.Context) *chromedp.Node {
	t.Helper()
	run(t, ctx, "find the launcher", chromedp.WaitVisible(chromedp.CSS("#sig-launcher")))
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("#sig-chat-frame")))
	if err != nil || len(nodes) == 0 {
		t.Fatalf("no widget iframe: %v", err)
	}
	if !eval[bool](t, ctx, "check the iframe", `!document.getElementById("sig-chat-frame").hidden`) {
		run(t, ctx, "open the widget", chromedp.Click(chromedp.CSS("#sig-launcher")))
	}
	run(t, ctx, "wait for the chat", chromedp.WaitVisible(chromedp.CSS("#input"), chromedp.FromNode(nodes[0])))
	return nodes[0]
}

func visitorSays(t *testing.T, ctx context.Context, frame *chromedp.Node, text string) {
	t.Helper()
	run(t, ctx, "visitor types "+text,
		chromedp.SendKeys(chromedp.CSS("#input"), text, chromedp.FromNode(frame)),
		chromedp.Click(chromedp.CSS("#send"), chromedp.FromNode(frame)),
	)
}

// visitorTexts returns the texts of the messages shown in the widget.
func visitorTexts(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return eval[[]string](t, ctx, "read the widget",
		`Array.from(document.getElementById("sig-chat-frame").contentDocument.querySelectorAll(".msg .bubble")).map(e => e.textContent)`)
}

func TestBrowserEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser test runs in the full (non -short) pass")
	}
	newContext := browser(t)
	e := newEnv(t, nil)
	base := e.srv.URL

	agent := newContext()
	consoleLogin(t, agent, base, "ann")
	other := newContext()
	consoleLogin(t, other, base, "sam")

	visitor := newContext()
	run(t, visitor, "open the demo shop", chromedp.Navigate(base+"/demo/"))
	frame := chatFrame(t, visitor)
	const card = "4111 1111 1111 1111"
	visitorSays(t, visitor, frame, "my card is "+card)

	// The agent accepts from the queue and sees only #.
	run(t, agent, "wait for the queue", chromedp.WaitVisible(chromedp.CSS("#queue button.accept")))
	run(t, agent, "accept the chat", chromedp.Click(chromedp.CSS("#queue button.accept")))
	run(t, agent, "see the chat", chromedp.WaitVisible(chromedp.CSS(".chat .msg .text")))
	shown := eval[string](t, agent, "read the message", `document.querySelector(".chat .msg .text").textContent`)
	if shown != "my card is ###################" {
		t.Errorf("the agent sees %q", shown)
	}

	// A number split across two messages: the first part is masked too.
	visitorSays(t, visitor, frame, "and the other one: 5555 5555")
	visitorSays(t, visitor, frame, "5555 4444")
	poll(t, agent, "the split number is masked for the agent",
		`Array.from(document.querySelectorAll(".chat .msg .text")).map(e => e.textContent).join("|") ===
		 "my card is ###################|and the other one: #########|#########"`)
	poll(t, visitor, "the visitor's copy is masked too",
		`Array.from(document.getElementById("sig-chat-frame").contentDocument.querySelectorAll(".msg .bubble")).map(e => e.textContent).join("|") ===
		 "my card is ###################|and the other one: #########|#########"`)

	// The agent of another workgroup saw nothing and cannot accept.
	queued := eval[int](t, other, "Sam's queue", `document.querySelectorAll("#queue li").length`)
	if queued != 0 {
		t.Errorf("Sam (sales) sees %d support chats in his queue", queued)
	}
	conversation := eval[string](t, agent, "conversation id", `document.querySelector(".chat").dataset.conversation`)
	refused := eval[string](t, other, "Sam tries to accept through his own socket", `new Promise(resolve => {
		const ws = new WebSocket(location.origin.replace("http", "ws") + "/api/v1/agent/ws");
		ws.onopen = () => ws.send(JSON.stringify({type: "accept", conversation: "`+conversation+`"}));
		ws.onmessage = ev => { const f = JSON.parse(ev.data); if (f.type === "error") resolve(f.code); };
	})`)
	if refused != "forbidden" {
		t.Errorf("Sam's accept: %q, want forbidden", refused)
	}

	// Reload: the same conversation, nothing lost, nothing twice.
	run(t, visitor, "reload", chromedp.Reload())
	chatFrame(t, visitor)
	poll(t, visitor, "history is back",
		`document.getElementById("sig-chat-frame").contentDocument.querySelectorAll(".msg").length === 3`)
	if got := visitorTexts(t, visitor); len(got) != 3 || got[0] != "my card is ###################" {
		t.Errorf("after reload the widget shows %q", got)
	}
	html := eval[string](t, agent, "agent page", `document.documentElement.outerHTML`)
	for _, digits := range []string{card, "4111111111111111", "5555 5555 5555 4444", "5555 4444"} {
		if strings.Contains(html, digits) {
			t.Errorf("the agent's page holds %q", digits)
		}
	}

	// The SQLite file holds none of the card's digits in sequence.
	e.web.Shutdown(context.Background())
	e.store.Close()
	db, _ := os.ReadFile(e.dbPath)
	wal, _ := os.ReadFile(e.dbPath + "-wal")
	for _, digits := range []string{card, "4111111111111111", "5555555555554444", "5555 5555 5555 4444"} {
		if strings.Contains(string(db)+string(wal), digits) {
			t.Errorf("the database holds %q", digits)
		}
	}
}
