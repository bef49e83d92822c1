package web

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/secureinput/gateway/card"
	"github.com/secureinput/gateway/chat"
)

// until collects the frames c receives until a message frame with text
// marker arrives.
func (c *wsClient) until(marker string) []frame {
	c.t.Helper()
	var out []frame
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatal("connection closed")
			}
			if f.Type == chat.FrameMessage && f.Text == marker {
				return out
			}
			out = append(out, f)
		case <-timeout:
			c.t.Fatalf("no message %q", marker)
		}
	}
}

// TestNoCardReachesTheAgent sends every spelling and every split of issue 15
// through the real server, visitor socket to agent socket, then searches
// the agent's frames and the SQLite files for the numbers.
func TestNoCardReachesTheAgent(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Rate, c.Burst = 1000, 1000 })
	agent := e.agent(t, "ann")
	v, _, err := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	v.send(map[string]any{"type": "hello", "service": "support"})
	id := v.next(chat.FrameWelcome).Conversation
	agent.next(chat.FrameOffer)
	agent.send(map[string]any{"type": "accept", "conversation": id})
	v.next(chat.FrameAgentJoined)

	// One message each; then the same cards split over messages.
	spellings := []string{
		"4111\n1111\n1111\n1111", "4111\t1111\t1111\t1111", "4111_1111_1111_1111", "4111/1111/1111/1111",
		"4111,1111,1111,1111", "4111 ,\n1111 / 1111-_1111", "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
		"4111\u200e1111\u200f1111\u200b1111", "⁴¹¹¹ ¹¹¹¹ ¹¹¹¹ ¹¹¹¹", "₄₁₁₁₁₁₁₁₁₁₁₁₁₁₁₁", "④①①①①①①①①①①①①①①①",
		"⑷⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴", "𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏", "card4111 1111 1111 1111", "CC4987-9390-7302-1006",
		"x4111-1111-1111-1111y", "Visa4137 8113 7424 1865", "+4111111111111111", "6759 6498 2643 8453",
	}
	splits := [][]string{
		{"my card 6011 1111 1111 111", "7"},
		{"6011", "1111", "1111", "1117"},
		{"3782 822463", "10005"},
		{"4012 8888", "8888 1881 thanks"},
	}
	for i, s := range spellings {
		v.send(map[string]any{"type": "message", "client_id": "s" + string(rune('a'+i)), "text": s})
	}
	for _, sp := range splits {
		for _, m := range sp {
			v.send(map[string]any{"type": "message", "text": m})
		}
		v.send(map[string]any{"type": "message", "text": "--"})
	}
	// A security code sent alone after the card.
	v.send(map[string]any{"type": "message", "text": "5555 5555 5555 4444 exp 12/27"})
	v.send(map[string]any{"type": "message", "text": "737"})
	// A client id holding a card is refused and not echoed.
	const badID = "pan 4012 8888 8888 1881 exp 12/30 cvv 123"
	v.send(map[string]any{"type": "message", "client_id": badID, "text": "hello"})
	if fr := v.next("error"); fr.Code != "bad_request" || fr.ClientID != "" || strings.Contains(fr.Message, "4012") {
		t.Errorf("bad client id: %+v", fr)
	}
	v.send(map[string]any{"type": "message", "text": "END"})
	frames := agent.until("END")

	var seen strings.Builder
	for _, f := range frames {
		if f.Type == chat.FrameMessage || f.Type == chat.FrameMessageUpdate || f.Type == chat.FrameRedaction {
			seen.WriteString(f.Text + "|" + f.ClientID + "\n")
		}
		if strings.Contains(f.ClientID, "4012") {
			t.Errorf("agent frame carries the bad client id: %+v", f)
		}
	}
	agentText := seen.String()
	for _, s := range spellings {
		d := card.Digits(s)
		if strings.Contains(card.Digits(agentText), d[:8]) || strings.Contains(agentText, s) {
			t.Errorf("the agent saw %q", s)
		}
	}
	for _, m := range strings.Split(agentText, "\n") {
		if n := len(card.Digits(m)); n > 10 {
			t.Errorf("an agent frame shows %d digits: %q", n, m)
		}
	}
	for _, secret := range []string{"601111111111", "1111 1117", "822463", "8888 1881", "737", "4012 8888 8888"} {
		if strings.Contains(agentText, secret) {
			t.Errorf("the agent saw %q of a split card or its code:\n%s", secret, agentText)
		}
	}
	if !strings.Contains(agentText, "card_prefix") || !strings.Contains(agentText, "security_code") {
		t.Errorf("no redaction events naming the rules in:\n%s", agentText)
	}

	// The rules are counted in /metrics (served on a listener of its own).
	rec := httptest.NewRecorder()
	e.web.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.Bytes()
	for _, want := range []string{`gateway_redactions_total{rule="card"}`, `gateway_redactions_total{rule="security_code"}`, `gateway_redactions_total{rule="card_prefix"}`} {
		if !strings.Contains(string(body), want) || strings.Contains(string(body), want+" 0\n") {
			t.Errorf("/metrics lacks a non-zero %s", want)
		}
	}

	e.web.Shutdown(context.Background())
	e.store.Close()
	db, _ := os.ReadFile(e.dbPath)
	wal, _ := os.ReadFile(e.dbPath + "-wal")
	files := string(db) + string(wal)
	for _, s := range append(spellings, badID, "4012 8888 8888 1881", "4111111111111111", "6011111111111117", "601111111111") {
		if strings.Contains(files, s) {
			t.Errorf("the database holds %q", s)
		}
	}
	if strings.Contains(e.logs.String(), "4012 8888") {
		t.Error("the log holds the bad client id")
	}
}

// TestPlatformCallIDsAreMasked: a call id holding a card-like number is
// logged, shown and echoed masked, and the agent's console can still act on
// the call by the id it was shown.
func TestPlatformCallIDsAreMasked(t *testing.T) {
	te := newTelephonyEnv(t)
	agent := te.agent(t, "ann")
	const call = "CA4111111111111111"
	status, reply := te.api(t, "POST", "/calls", `{"call":"`+call+`","agent":"ann"}`)
	if status != 200 || reply["call"] != "CA################" {
		t.Fatalf("register: %d %v", status, reply)
	}
	calls := agent.next(frameCalls)
	if !strings.Contains(strings.ReplaceAll(toJSON(calls.Conversations), " ", ""), "CA################") {
		t.Errorf("calls frame %v does not show the masked id", calls.Conversations)
	}
	agent.send(map[string]any{"type": inCallForms, "call": "CA################"})
	if f := agent.next(frameForms); f.Call != "CA################" {
		t.Errorf("call_forms by the shown id: %+v", f)
	}
	if _, got := te.api(t, "GET", "/calls/"+call, ""); got["call"] != "CA################" {
		t.Errorf("GET /calls: %v", got)
	}
	// A secure session on it: every call_session frame shows it masked.
	agent.send(map[string]any{"type": "call_secure_input", "call": "CA################", "form": "credit_card", "mode": "hold",
		"fields": map[string]string{"amount": "1"}})
	for _, state := range []string{"starting", "collecting"} {
		if got := sessionState(t, agent, state); got["call"] != "CA################" {
			t.Errorf("%s frame shows call %v, want it masked", state, got["call"])
		}
	}
	if strings.Contains(te.logs.String(), "4111111111111111") {
		t.Error("the log holds the call id unmasked")
	}
	for _, bad := range []string{`{"call":"a b","agent":"ann"}`, `{"call":"x","agent":"4111 1111"}`} {
		if status, _ := te.api(t, "POST", "/calls", bad); status != 400 {
			t.Errorf("POST /calls %s: %d, want 400", bad, status)
		}
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
