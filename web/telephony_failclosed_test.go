package web

import (
	"fmt"
	"math/rand"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secureinput/gateway/voice"
)

func quickAck(c *voice.ManagerConfig) { c.AckTimeout = 300 * time.Millisecond }

// startSession registers call and has ann start a hold session on it; it
// returns ann's connection once the session is starting.
func startSession(t *testing.T, te *telephonyEnv, call string) *wsClient {
	t.Helper()
	agent := te.agent(t, "ann")
	if code, _ := te.api(t, "POST", "/calls", `{"call":"`+call+`","agent":"ann","parties":2}`); code != 200 {
		t.Fatalf("register: %d", code)
	}
	agent.send(map[string]any{"type": "call_secure_input", "call": call, "form": "credit_card", "mode": "hold", "fields": map[string]string{"amount": "1"}})
	sessionState(t, agent, "starting")
	return agent
}

// TestTelephonyFailsClosed: a webhook receiver that answers 500 to every
// try, or never answers, never confirmed that recording is paused and the
// agent held: no prompt, no digit taken, an error outcome that names the
// reason, the agent told, no validation call; and neither the agent's
// socket nor the platform's requests wait for the receiver.
func TestTelephonyFailsClosed(t *testing.T) {
	for _, receiver := range []string{"fails", "hangs"} {
		t.Run(receiver, func(t *testing.T) {
			te := newTelephonyEnv(t, quickAck)
			if receiver == "fails" {
				te.failHooks.Store(true)
			} else {
				te.hangHooks = make(chan struct{})
				t.Cleanup(func() { close(te.hangHooks) })
			}
			agent := startSession(t, te, "c1")
			// The agent's socket still answers while the receiver is tried.
			agent.send(map[string]any{"type": "calls"})
			agent.next(frameCalls)
			code, sess := te.api(t, "GET", "/calls/c1/session", "")
			if code != 200 || sess["state"] != "starting" || sess["prompt"] != nil {
				t.Errorf("before the acknowledgement: %d %+v", code, sess)
			}
			if code, body := te.api(t, "POST", "/calls/c1/session/digits", `{"digits":"4111111111111111#1240"}`); code != 409 || body["error"] != "not_collecting" {
				t.Errorf("digits before the acknowledgement: %d %+v", code, body)
			}
			end := sessionState(t, agent, "ended")
			if end["outcome"] != nil || !strings.Contains(end["error"].(string), "did not acknowledge") {
				t.Errorf("ended %+v", end)
			}
			if code, body := te.api(t, "POST", "/calls/c1/session/digits", `{"digits":"1"}`); code != 409 {
				t.Errorf("digits after the end: %d %+v", code, body)
			}
			if n := te.validations.Load(); n != 0 {
				t.Errorf("the validation service was called %d times", n)
			}
			code, call := te.api(t, "GET", "/calls/c1", "")
			if usage, _ := call["secure_input"].(map[string]any); code != 200 || usage["outcomes"].(map[string]any)["error"] != float64(1) {
				t.Errorf("call record %d %+v", code, call)
			}
		})
	}
}

// TestTelephonyPayloadType: a telephone-event type outside 96–127 is
// refused with a clear error and the session stays open for a valid one.
func TestTelephonyPayloadType(t *testing.T) {
	te := newTelephonyEnv(t)
	agent := startSession(t, te, "c1")
	sessionState(t, agent, "collecting")
	platform, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer platform.Close()
	src := platform.LocalAddr().String()
	for _, pt := range []string{"0", "8", "18", "95", "128", "255", "-1", "300"} {
		code, body := te.api(t, "POST", "/calls/c1/session/rtp", `{"source":"`+src+`","payload_type":`+pt+`}`)
		if code != 400 || body["error"] != "bad_payload_type" || !strings.Contains(body["message"].(string), "96 to 127") {
			t.Errorf("payload_type %s: %d %+v", pt, code, body)
		}
	}
	if code, sess := te.api(t, "GET", "/calls/c1/session", ""); code != 200 || sess["state"] != "collecting" {
		t.Errorf("after the refusals: %d %+v", code, sess)
	}
	if code, body := te.api(t, "POST", "/calls/c1/session/rtp", `{"source":"`+src+`","payload_type":96}`); code != 200 || body["payload_type"] != float64(96) {
		t.Errorf("payload_type 96: %d %+v", code, body)
	}
}

// TestTelephonyDigitsWhileValidating: digits pushed while the values are
// with the validation service are refused with 409; the service gets one
// request.
func TestTelephonyDigitsWhileValidating(t *testing.T) {
	te := newTelephonyEnv(t)
	te.holdValidation = make(chan struct{})
	agent := startSession(t, te, "c1")
	sessionState(t, agent, "collecting")
	te.api(t, "POST", "/calls/c1/session/digits", `{"digits":"4111111111111111#124"}`)
	done := make(chan int, 1)
	go func() {
		code, _ := te.api(t, "POST", "/calls/c1/session/digits", `{"digits":"0"}`)
		done <- code
	}()
	for te.validations.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for _, d := range []string{"1", "#", "0"} {
		if code, body := te.api(t, "POST", "/calls/c1/session/digits", `{"digits":"`+d+`"}`); code != 409 || body["error"] != "not_collecting" {
			t.Errorf("digits %q while validating: %d %+v", d, code, body)
		}
	}
	close(te.holdValidation)
	if code := <-done; code != 200 {
		t.Errorf("the last digit: %d", code)
	}
	end := sessionState(t, agent, "ended")
	if out, _ := end["outcome"].(map[string]any); out["status"] != "accepted" {
		t.Errorf("outcome %+v", end)
	}
	if n := te.validations.Load(); n != 1 {
		t.Errorf("%d validation requests, want 1", n)
	}
}

// TestTelephonyDigitsConcurrentAndOutOfOrder pushes one key a request, all
// at once, in shuffled order and some twice, as a platform (or the demo
// phone) with overlapping requests and retries does: with their seq the
// keys apply in order and once, and the card is accepted.
func TestTelephonyDigitsConcurrentAndOutOfOrder(t *testing.T) {
	const keys = "4111111111111111#1240"
	te := newTelephonyEnv(t)
	agent := startSession(t, te, "c1")
	sessionState(t, agent, "collecting")
	order := rand.New(rand.NewSource(7)).Perm(len(keys))
	var wg sync.WaitGroup
	for _, i := range append(order, order[:4]...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := te.api(t, "POST", "/calls/c1/session/digits", fmt.Sprintf(`{"digits":%q,"seq":%d}`, keys[i:i+1], i+1))
			if code != 200 && code != 409 {
				t.Errorf("key %d: %d %+v", i+1, code, body)
			}
		}()
	}
	wg.Wait()
	end := sessionState(t, agent, "ended")
	if out, _ := end["outcome"].(map[string]any); out["status"] != "accepted" || out["last4"] != "1111" {
		t.Errorf("outcome %+v", end)
	}
	if n := te.validations.Load(); n != 1 {
		t.Errorf("%d validation requests, want 1", n)
	}
	if code, body := te.api(t, "POST", "/calls/c1/session/digits", `{"digits":"1","seq":-1}`); code != 409 {
		t.Errorf("after the end: %d %+v", code, body)
	}
}
