package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/secure"
	"github.com/secureinput/gateway/voice"
)

const platformKey = "demo-telephony-key" // the key web/static/assets/phone.js uses

// telephonyEnv is a formsEnv with the telephony API, a webhook receiver
// that checks signatures and timestamps, and the sample validation service
// (counting its requests).
type telephonyEnv struct {
	*env
	mgr   *voice.Manager
	mu    sync.Mutex
	hooks []voice.Instruction
	raw   []string
	// failHooks makes the receiver answer 500; hangHooks makes it hold
	// each request until the channel closes.
	failHooks   atomic.Bool
	hangHooks   chan struct{}
	validations atomic.Int32
	// holdValidation, when set, holds each validation request until it
	// closes.
	holdValidation chan struct{}
	// validationBodies are the validation requests' bodies.
	validationBodies []string
}

// telephonyOption changes the voice manager of a telephonyEnv.
type telephonyOption func(*voice.ManagerConfig)

func newTelephonyEnv(t *testing.T, opts ...telephonyOption) *telephonyEnv {
	t.Helper()
	return newTelephonyEnvForms(t, testForms, opts...)
}

// newTelephonyEnvForms is newTelephonyEnv with forms of its own.
func newTelephonyEnvForms(t *testing.T, forms []chatforms.Form, opts ...telephonyOption) *telephonyEnv {
	t.Helper()
	te := &telephonyEnv{}
	secret := []byte("webhook-secret")
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := voice.Verify(secret, body, r.Header.Get(voice.TimestampHeader), r.Header.Get(voice.SignatureHeader), time.Now()); err != nil {
			t.Errorf("webhook: %v", err)
		}
		if te.hangHooks != nil {
			select {
			case <-te.hangHooks:
			case <-r.Context().Done():
			}
			return
		}
		if te.failHooks.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var in voice.Instruction
		json.Unmarshal(body, &in)
		te.mu.Lock()
		te.hooks = append(te.hooks, in)
		te.raw = append(te.raw, string(body))
		te.mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	sample := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		te.validations.Add(1)
		body, _ := io.ReadAll(r.Body)
		te.mu.Lock()
		te.validationBodies = append(te.validationBodies, string(body))
		te.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		if te.holdValidation != nil {
			<-te.holdValidation
		}
		secure.SampleService{}.ServeHTTP(w, r)
	}))
	t.Cleanup(sample.Close)
	client, _ := secure.NewClient(secure.ClientConfig{URL: sample.URL})
	catalog, _ := chatforms.New(chatforms.Config{
		Forms:           forms,
		WorkgroupRights: map[string][]chatforms.Right{"support": {chatforms.RightSecureInput, chatforms.RightInitiate}},
		AgentWorkgroups: map[string][]string{"ann": {"support"}, "sam": {"sales"}},
	})
	te.env = newEnv(t, func(c *Config) {
		pipeline := secure.NewPipeline(secure.PipelineConfig{Client: client, Logger: c.Logger})
		desk, err := chatforms.NewDesk(chatforms.DeskConfig{Catalog: catalog, Validator: pipeline, Chats: c.Hub, Notifier: FormFrames{Hub: c.Hub, Audit: c.Audit, Logger: c.Logger}, Logger: c.Logger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { desk.Close(context.Background()) })
		c.Desk = desk
		mc := voice.ManagerConfig{Pipeline: pipeline, Notifier: &voice.Webhook{URL: hook.URL, Secret: secret, Backoff: time.Millisecond},
			Observer: CallFrames{Hub: c.Hub, Logger: c.Logger}}
		for _, o := range opts {
			o(&mc)
		}
		te.mgr = voice.NewManager(mc)
		t.Cleanup(func() { te.mgr.Close(context.Background()) })
		c.Telephony = TelephonyConfig{Manager: te.mgr, APIKey: platformKey}
	})
	return te
}

// sessionState waits for the agent's call_session frame in state and
// returns the session.
func sessionState(t *testing.T, agent *wsClient, state string) map[string]any {
	t.Helper()
	for {
		f := agent.next(frameCallSession)
		if m := formAsMap(t, f.Outcome); m["state"] == state {
			return m
		}
	}
}

func (te *telephonyEnv) api(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, te.srv.URL+"/api/telephony/v1"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+platformKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestTelephonyFlowHoldModeWithPushedDigits(t *testing.T) {
	te := newTelephonyEnv(t)
	agent := te.agent(t, "ann")
	if code, _ := te.api(t, "POST", "/calls", `{"call":"call-1","agent":"ann","parties":2}`); code != 200 {
		t.Fatalf("register call: %d", code)
	}
	calls := agent.next(frameCalls)
	if list := formAsMap(t, calls)["conversations"].([]any); len(list) != 1 {
		t.Fatalf("calls frame %+v", calls)
	}
	agent.send(map[string]any{"type": "call_forms", "call": "call-1"})
	if f := agent.next(frameForms); f.Call != "call-1" {
		t.Errorf("forms for the call %+v", f)
	}
	agent.send(map[string]any{"type": "call_secure_input", "call": "call-1", "form": "credit_card", "mode": "hold", "fields": map[string]string{"amount": "9.99"}})
	if f := agent.next(frameCallSession); formAsMap(t, f.Outcome)["state"] != "starting" {
		t.Errorf("session frame %+v", f)
	}
	sessionState(t, agent, "collecting")
	code, sess := te.api(t, "GET", "/calls/call-1/session", "")
	if code != 200 || sess["prompt"].(map[string]any)["field"] != "card_number" {
		t.Fatalf("prompt: %d %+v", code, sess)
	}
	for _, digits := range []string{"4111", "111111111111#", "1240"} {
		if code, _ := te.api(t, "POST", "/calls/call-1/session/digits", `{"digits":"`+digits+`"}`); code != 200 {
			t.Fatalf("digits: %d", code)
		}
	}
	// Hold mode shows the agent the same progress as assisted mode.
	var prog map[string]any
	for prog == nil || prog["digits"] != float64(4) {
		if f := agent.next(frameCallSession); f.Form != nil {
			prog = formAsMap(t, f.Form)
		}
	}
	if prog["field"] != "card_number" || prog["brand"] != "Visa" {
		t.Errorf("hold-mode progress %+v", prog)
	}
	var end frame
	for {
		end = agent.next(frameCallSession)
		if formAsMap(t, end.Outcome)["state"] == "ended" {
			break
		}
	}
	out := formAsMap(t, end.Outcome)["outcome"].(map[string]any)
	if out["status"] != "accepted" || out["last4"] != "1111" || out["transaction_id"] == "" {
		t.Errorf("outcome %+v", out)
	}
	te.mgr.Close(context.Background()) // the end webhook is delivered
	te.mu.Lock()
	if len(te.hooks) != 2 || te.hooks[0].Type != "secure_session_begin" || te.hooks[1].Outcome == nil {
		t.Errorf("webhooks %+v", te.hooks)
	}
	raw := strings.Join(te.raw, "\n")
	te.mu.Unlock()
	// The digits are nowhere: webhooks, log, database, agent frames.
	te.web.Shutdown(context.Background())
	te.store.Close()
	db, _ := os.ReadFile(te.dbPath)
	for name, hay := range map[string]string{"webhooks": raw, "log": te.logs.String(), "database": string(db)} {
		if strings.Contains(hay, "4111111111111111") || strings.Contains(hay, "4111 1111") {
			t.Errorf("the %s holds the card number", name)
		}
	}
	for f := range agent.frames {
		b, _ := json.Marshal(f)
		if bytes.Contains(b, []byte("41111111")) {
			t.Errorf("an agent frame holds the card: %s", b)
		}
	}
}

func TestTelephonyRTPAndRefusals(t *testing.T) {
	te := newTelephonyEnv(t)
	agent := te.agent(t, "ann")
	if code, _ := te.api(t, "POST", "/calls", `{"call":"conf","agent":"ann","parties":3}`); code != 200 {
		t.Fatal(code)
	}
	agent.send(map[string]any{"type": "call_secure_input", "call": "conf", "form": "credit_card", "fields": map[string]string{"amount": "1"}})
	if f := agent.next(frameError); f.Code != "conference_call" {
		t.Errorf("conference: %+v", f)
	}
	te.api(t, "POST", "/calls", `{"call":"c2","agent":"ann"}`)
	agent.send(map[string]any{"type": "call_secure_input", "call": "c2", "form": "credit_card", "mode": "assisted", "fields": map[string]string{"amount": "1"}})
	sessionState(t, agent, "collecting")

	// Bad key, unknown call.
	req, _ := http.NewRequest("GET", te.srv.URL+"/api/telephony/v1/calls/c2/session", nil)
	req.Header.Set("Authorization", "Bearer wrong")
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong key: %d", resp.StatusCode)
	}
	if code, body := te.api(t, "GET", "/calls/nope/session", ""); code != 404 || body["error"] != "no_session" {
		t.Errorf("unknown call: %d %+v", code, body)
	}

	// RTP over loopback: the platform's address only.
	platform, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer platform.Close()
	code, port := te.api(t, "POST", "/calls/c2/session/rtp", `{"source":"`+platform.LocalAddr().String()+`","payload_type":101}`)
	if code != 200 {
		t.Fatalf("rtp: %d %+v", code, port)
	}
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port["port"].(float64))}
	seq, ts := uint16(1), uint32(100)
	send := func(key byte) {
		ev := map[byte]byte{'*': 10, '#': 11}[key]
		if key >= '0' && key <= '9' {
			ev = key - '0'
		}
		for i := 0; i < 4; i++ {
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: seq, Timestamp: ts, SSRC: 7},
				Payload: []byte{ev, 0x8a, 0x03, 0x20}}
			b, _ := p.Marshal()
			platform.WriteToUDP(b, dst)
			seq++
		}
		ts += 1600
		time.Sleep(3 * time.Millisecond)
	}
	for _, k := range []byte("4111") {
		send(k)
	}
	// Agent-assisted: the agent sees the count and the brand, never a digit.
	var prog map[string]any
	for prog == nil || prog["digits"] != float64(4) {
		f := agent.next(frameCallSession)
		if f.Form != nil {
			prog = formAsMap(t, f.Form)
		}
	}
	if prog["brand"] != "Visa" {
		t.Errorf("progress %+v", prog)
	}
	// The rest of the card and the expiry over RTP: an outcome, to the agent
	// and in the platform's end webhook.
	for _, k := range []byte("111111111111#1240") {
		send(k)
	}
	for {
		f := agent.next(frameCallSession)
		if m := formAsMap(t, f.Outcome); m["state"] == "ended" {
			if out, _ := m["outcome"].(map[string]any); out["status"] != "accepted" {
				t.Fatalf("assisted session over RTP ended with %+v", m)
			}
			break
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		te.mu.Lock()
		last := te.hooks[len(te.hooks)-1]
		te.mu.Unlock()
		if last.Type == "secure_session_end" {
			if last.Outcome == nil || strings.Join(last.Actions, ",") != "unmask_tones,resume_recording,resume_monitoring" {
				t.Errorf("end webhook %+v", last)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no end webhook")
		}
	}

	// A session the agent cancels.
	agent.send(map[string]any{"type": "call_secure_input", "call": "c2", "form": "credit_card", "mode": "assisted", "fields": map[string]string{"amount": "1"}})
	sessionState(t, agent, "collecting")
	agent.send(map[string]any{"type": "call_cancel", "call": "c2"})
	for {
		f := agent.next(frameCallSession)
		if m := formAsMap(t, f.Outcome); m["state"] == "ended" {
			if m["outcome"] != nil {
				t.Errorf("a cancelled session has an outcome: %+v", m)
			}
			break
		}
	}
	if code, body := te.api(t, "GET", "/calls/c2/session", ""); code != 200 || body["state"] != "ended" || body["outcome"] != nil {
		t.Errorf("session after cancel: %d %+v", code, body)
	}
	if code, body := te.api(t, "POST", "/calls/c2/session/digits", `{"digits":"1"}`); code != 409 || body["error"] != "not_collecting" {
		t.Errorf("digits after the end: %d %+v", code, body)
	}
	if code, body := te.api(t, "POST", "/calls/nope/session/digits", `{"digits":"1"}`); code != 404 || body["error"] != "no_session" {
		t.Errorf("digits without a session: %d %+v", code, body)
	}
	code, call := te.api(t, "GET", "/calls/c2", "")
	usage, _ := call["secure_input"].(map[string]any)
	if code != 200 || usage["requests"] != float64(2) || usage["outcomes"].(map[string]any)["cancelled"] != float64(1) ||
		usage["outcomes"].(map[string]any)["accepted"] != float64(1) {
		t.Errorf("call record: %d %+v", code, call)
	}
}
