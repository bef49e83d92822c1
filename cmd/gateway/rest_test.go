package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/secureinput/gateway/internal/testenv"
)

// Planted through every path that reaches the gateway: a visitor's and an
// agent's messages, a secure note and a card submitted through forms, a
// card keyed on a call's secure IVR session. A card is redacted before it
// is stored (and secure values are never stored); the sentences are
// stored, sealed.
const (
	visitorSentence = "the violet heron counts marbles at dawn"
	agentSentence   = "seventeen copper kettles hum in the attic"
	noteSentence    = "my grandmother's parrot is called Ezekiel"
	plantedCard     = "4012888888881881"
	ivrCard         = "5555555555554444"
)

var plantedNeedles = []string{visitorSentence, agentSentence, noteSentence, "Ezekiel", "violet heron", "copper kettles",
	plantedCard, "4012 8888 8888 1881", ivrCard}

// wsPeer is a websocket of the test with a deadline on every read.
type wsPeer struct {
	t    *testing.T
	conn *websocket.Conn
}

func dialPeer(t *testing.T, url string, h http.Header) *wsPeer {
	t.Helper()
	c, _, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &wsPeer{t: t, conn: c}
}

func (p *wsPeer) send(v any) {
	b, _ := json.Marshal(v)
	if err := p.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

// next reads frames until one of type typ, returning it decoded.
func (p *wsPeer) next(typ string) map[string]any {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		_, b, err := p.conn.Read(ctx)
		if err != nil {
			p.t.Fatalf("waiting for %s: %v", typ, err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		if m["type"] == typ {
			return m
		}
	}
}

// planted is what plantEverywhere made: the conversation and its visitor
// token, and the vault tokens of the card of the form and of the call (""
// without a vault).
type planted struct {
	conversation, token      string
	formCardToken, callToken string
}

// plantEverywhere drives a chat with a form through the gateway at url.
func plantEverywhere(t *testing.T, url string) (p planted) {
	ws := "ws" + strings.TrimPrefix(url, "http")
	resp, err := http.Post(url+"/api/v1/login", "application/json", strings.NewReader(`{"login":"demo","password":"demo"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()
	h := http.Header{"Origin": {url}}
	for _, c := range resp.Cookies() {
		h.Add("Cookie", c.Name+"="+c.Value)
	}
	agent := dialPeer(t, ws+"/api/v1/agent/ws", h)
	agent.next("welcome")
	agent.send(map[string]any{"type": "status", "status": "available"})
	agent.next("status")
	visitor := dialPeer(t, ws+"/api/v1/visitor/ws", nil)
	visitor.send(map[string]any{"type": "hello", "service": "support"})
	w := visitor.next("welcome")
	p.conversation, p.token = w["conversation"].(string), w["token"].(string)
	conversation := p.conversation
	agent.next("offer")
	agent.send(map[string]any{"type": "accept", "conversation": conversation})
	visitor.next("agent_joined")
	visitor.send(map[string]any{"type": "message", "client_id": "v1", "text": visitorSentence + ", card 4012 8888 8888 1881"})
	agent.next("message")
	agent.send(map[string]any{"type": "message", "conversation": conversation, "client_id": "a1", "text": agentSentence})
	visitor.next("message")

	agent.send(map[string]any{"type": "form_request", "conversation": conversation, "form": "secure_note"})
	form := visitor.next("form")
	visitor.send(map[string]any{"type": "form_submit", "request": form["request"], "values": map[string]string{"note": noteSentence + " " + plantedCard}})
	waitOutcome(t, agent)
	agent.send(map[string]any{"type": "form_request", "conversation": conversation, "form": "credit_card", "fields": map[string]string{"amount": "12.50"}})
	form = visitor.next("form")
	visitor.send(map[string]any{"type": "form_submit", "request": form["request"],
		"values": map[string]string{"card_number": plantedCard, "expiry": "12/40", "cvv": "123"}})
	if o, _ := waitOutcome(t, agent)["outcome"].(map[string]any); o != nil {
		p.formCardToken, _ = o["token"].(string)
	}

	// A secure IVR session on a call, digits pushed by the platform.
	telephony := func(method, path, body string) int {
		req, _ := http.NewRequest(method, url+"/api/telephony/v1"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+demoTelephonyKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := telephony("POST", "/calls", `{"call":"call-1","agent":"demo","parties":2}`); code != 200 {
		t.Fatalf("register the call: %d", code)
	}
	agent.send(map[string]any{"type": "call_secure_input", "call": "call-1", "form": "credit_card", "mode": "hold", "fields": map[string]string{"amount": "9.99"}})
	agent.next("call_session")
	for _, digits := range []string{ivrCard + "#", "1240", "123#"} {
		if code := telephony("POST", "/calls/call-1/session/digits", `{"digits":"`+digits+`"}`); code != 200 {
			t.Fatalf("digits: %d", code)
		}
	}
	for {
		s := agent.next("call_session")
		if o, _ := s["outcome"].(map[string]any); o != nil && o["state"] == "ended" {
			if out, _ := o["outcome"].(map[string]any); out != nil {
				p.callToken, _ = out["token"].(string)
			}
			break
		}
	}
	return p
}

// waitOutcome waits for a form's outcome on the agent's side and returns
// its frame.
func waitOutcome(t *testing.T, agent *wsPeer) map[string]any {
	t.Helper()
	for {
		st := agent.next("form_status")
		switch st["status"] {
		case "accepted", "declined":
			return st
		case "error", "cancelled":
			t.Fatalf("form ended %v", st)
		}
	}
}

// dataFilesHolding lists which files of the data directory hold a needle,
// reading every byte of every file (database, WAL, shared memory, temp).
func dataFilesHolding(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range plantedNeedles {
			if bytes.Contains(b, []byte(n)) {
				found = append(found, filepath.Base(p)+": "+n)
			}
		}
		return nil
	})
	return found
}

// transcript resumes the conversation and returns the texts of its history.
func transcript(t *testing.T, url, conversation, token string) string {
	v := dialPeer(t, "ws"+strings.TrimPrefix(url, "http")+"/api/v1/visitor/ws", nil)
	v.send(map[string]any{"type": "hello", "conversation": conversation, "token": token, "since": 0})
	w := v.next("welcome")
	last := int64(w["seq"].(float64))
	var texts []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for seq := int64(0); seq < last; {
		_, b, err := v.conn.Read(ctx)
		if err != nil {
			t.Fatalf("history: %v", err)
		}
		var f struct {
			Seq  int64
			Text string
		}
		json.Unmarshal(b, &f)
		seq = f.Seq
		texts = append(texts, f.Text)
	}
	return strings.Join(texts, "\n")
}

// TestNothingInTheClearAtRest plants sentences and a card through chat and
// forms, then reads every byte of the data directory after a SIGKILL, after
// a graceful stop and after keys rotate: none is there, and the transcript
// still reads, under the new key after the rotation.
func TestNothingInTheClearAtRest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	bin := testenv.GatewayBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	cmd, url := testenv.StartGateway(t, bin, data)
	p := plantEverywhere(t, url)
	conv, token := p.conversation, p.token
	if f := dataFilesHolding(t, data); len(f) > 0 {
		t.Errorf("while serving, in the clear: %v", f)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if f := dataFilesHolding(t, data); len(f) > 0 {
		t.Errorf("after SIGKILL, in the clear: %v", f)
	}

	cmd, url = testenv.StartGateway(t, bin, data)
	text := transcript(t, url, conv, token)
	if !strings.Contains(text, visitorSentence) || !strings.Contains(text, agentSentence) || strings.Contains(text, plantedCard) {
		t.Errorf("transcript after SIGKILL:\n%s", text)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	if f := dataFilesHolding(t, data); len(f) > 0 {
		t.Errorf("after a graceful stop, in the clear: %v", f)
	}

	out, err := exec.Command(bin, "keys", "rotate", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "rotation done") {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	if f := dataFilesHolding(t, data); len(f) > 0 {
		t.Errorf("after keys rotate, in the clear: %v", f)
	}
	out, _ = exec.Command(bin, "keys", "status", "--data", data).CombinedOutput()
	if !strings.Contains(string(out), "no rotation under way") || !strings.Contains(string(out), "\n2    current") {
		t.Errorf("keys status after rotate:\n%s", out)
	}
	_, url = testenv.StartGateway(t, bin, data)
	if after := transcript(t, url, conv, token); after != text {
		t.Errorf("transcript after rotation:\n%s\nwant\n%s", after, text)
	}
}
