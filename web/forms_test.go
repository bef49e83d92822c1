package web

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/secure"

	"github.com/secureinput/gateway/internal/testenv"
)

var testForms = []chatforms.Form{
	{Name: "credit_card", Title: "Credit Card", Workgroups: []string{"support"}, Fields: []secure.Field{
		{ID: "amount", Name: "Amount", Kind: secure.KindAmount, AgentFills: true},
		{ID: "card_number", Name: "Card number", Kind: secure.KindCardNumber},
		{ID: "expiry", Name: "Expiry", Kind: secure.KindExpiry},
	}},
	{Name: "ssn", Title: "SSN", Workgroups: []string{"support"}, Fields: []secure.Field{{ID: "ssn", Name: "SSN", Kind: secure.KindSSN}}},
}

// formsEnv is an env whose support workgroup may use secure forms, validated
// by the sample service.
func formsEnv(t *testing.T, rights map[string][]chatforms.Right) *env {
	t.Helper()
	client := testenv.ValidationService(t)
	catalog, err := chatforms.New(chatforms.Config{
		Forms:           testForms,
		WorkgroupRights: map[string][]chatforms.Right{"support": {chatforms.RightSecureInput}},
		AgentRights:     rights,
		AgentWorkgroups: map[string][]string{"ann": {"support"}, "sam": {"sales"}},
		Canned:          map[string][]chatforms.Canned{"support": {{Title: "Take payment", Text: "Sending you a secure form now.", Form: "credit_card"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, func(c *Config) {
		pipeline := secure.NewPipeline(secure.PipelineConfig{Client: client, Logger: c.Logger})
		desk, err := chatforms.NewDesk(chatforms.DeskConfig{Catalog: catalog, Validator: pipeline, Chats: c.Hub, Notifier: FormFrames{Hub: c.Hub, Audit: c.Audit, Logger: c.Logger}, Logger: c.Logger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { desk.Close(context.Background()) })
		c.Desk = desk
	})
}

// openChat opens a conversation on support, accepted by ann.
func openChat(t *testing.T, e *env) (visitor, agent *wsClient, id string) {
	t.Helper()
	agent = e.agent(t, "ann")
	visitor, _, _ = dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
	visitor.send(map[string]any{"type": "hello", "service": "support"})
	id = visitor.next(chat.FrameWelcome).Conversation
	agent.next(chat.FrameOffer)
	agent.send(map[string]any{"type": "accept", "conversation": id})
	visitor.next(chat.FrameAgentJoined)
	return visitor, agent, id
}

// recordAgent collects every raw frame an agent socket receives.
func formAsMap(t *testing.T, v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func TestSecureFormEndToEndProtocol(t *testing.T) {
	e := formsEnv(t, map[string][]chatforms.Right{"ann": {chatforms.RightInitiate}})
	visitor, agent, id := openChat(t, e)

	agent.send(map[string]any{"type": "forms", "conversation": id})
	forms := agent.next(frameForms)
	if list, _ := forms.Forms.([]any); len(list) != 2 {
		t.Fatalf("forms offered: %+v", forms.Forms)
	}
	// A bad agent value is refused before anything reaches the customer.
	agent.send(map[string]any{"type": "form_request", "conversation": id, "form": "credit_card", "fields": map[string]string{"amount": "ten"}})
	if f := agent.next(frameError); f.Code != "invalid_fields" || f.Errors["amount"] == "" {
		t.Errorf("bad amount: %+v", f)
	}
	agent.send(map[string]any{"type": "form_request", "conversation": id, "form": "credit_card", "fields": map[string]string{"amount": "12.50"}})
	if m := visitor.next(chat.FrameSecureInput); !strings.Contains(m.Text, "Secure data has been requested") {
		t.Errorf("system message %+v", m)
	}
	form := visitor.next(frameForm)
	fields := formAsMap(t, form.Form)["fields"].([]any)
	if form.Request == "" || len(fields) != 2 {
		t.Fatalf("form frame %+v", form)
	}
	if st := agent.next(frameFormStatus); st.Status != chatforms.StateWaiting {
		t.Errorf("agent status %+v", st)
	}

	// The chat goes on while the form is open.
	visitor.send(map[string]any{"type": "message", "client_id": "m1", "text": "filling it in now"})
	if m := agent.next(chat.FrameMessage); m.Text != "filling it in now" {
		t.Errorf("chat message %+v", m)
	}

	// A wrong number: the customer corrects it, the agent sees nothing of it.
	visitor.send(map[string]any{"type": "form_submit", "request": form.Request, "values": map[string]string{"card_number": "4111 1111 1111 1112", "expiry": "12/40"}})
	if fe := visitor.next(frameFormError); fe.Errors["card_number"] == "" {
		t.Errorf("form_error %+v", fe)
	}
	// The canary: a valid test card.
	const canary = "4012 8888 8888 1881"
	visitor.send(map[string]any{"type": "form_submit", "request": form.Request, "values": map[string]string{"card_number": canary, "expiry": "12/40"}})
	var final frame
	for final.Status != chatforms.StateAccepted {
		final = agent.next(frameFormStatus)
	}
	out := formAsMap(t, final.Outcome)
	if out["status"] != "accepted" || out["brand"] != "Visa" || out["last4"] != "1881" || out["transaction_id"] == "" {
		t.Errorf("agent outcome %+v", out)
	}
	if !strings.HasPrefix(final.Result, out["transaction_id"].(string)+" accepted ") {
		t.Errorf("result string %q", final.Result)
	}
	var vfinal frame
	for vfinal.Status != chatforms.StateAccepted {
		vfinal = visitor.next(frameFormStatus)
	}

	// A declined card (expired), then a retry, then a customer cancel.
	agent.send(map[string]any{"type": "form_request", "conversation": id, "form": "ssn"})
	ssnForm := visitor.next(frameForm)
	visitor.send(map[string]any{"type": "form_submit", "request": ssnForm.Request, "values": map[string]string{"ssn": "123-45-6789"}})
	var st frame
	for st.Status != chatforms.StateDeclined { // the sample service wants a card
		st = agent.next(frameFormStatus)
	}
	agent.send(map[string]any{"type": "form_retry", "conversation": id, "request": ssnForm.Request})
	again := visitor.next(frameForm)
	if again.Request != ssnForm.Request || formAsMap(t, again.Form)["attempt"] != float64(2) {
		t.Errorf("retry form %+v", again)
	}
	visitor.send(map[string]any{"type": "form_cancel", "request": ssnForm.Request})
	for st.Status != chatforms.StateCancelled {
		st = agent.next(frameFormStatus)
	}

	// Audit: counts, no values.
	hc, _ := e.loginAgent(t, "ann")
	resp, err := hc.Get(e.srv.URL + "/api/conversations/" + id)
	if err != nil {
		t.Fatal(err)
	}
	var audit struct {
		SecureInput chatforms.Usage `json:"secure_input"`
	}
	json.NewDecoder(resp.Body).Decode(&audit)
	resp.Body.Close()
	if audit.SecureInput.Requests != 2 || audit.SecureInput.Outcomes["accepted"] != 1 || audit.SecureInput.Outcomes["declined"] != 1 || audit.SecureInput.Outcomes["cancelled"] != 1 {
		t.Errorf("audit %+v", audit)
	}

	// The canary is nowhere: not in the database, the log, or any frame to the agent.
	agent.send(map[string]any{"type": "history", "conversation": id, "since": 0})
	time.Sleep(200 * time.Millisecond)
	e.web.Shutdown(context.Background())
	e.store.Close()
	db, _ := os.ReadFile(e.dbPath)
	wal, _ := os.ReadFile(e.dbPath + "-wal")
	for _, secret := range []string{canary, strings.ReplaceAll(canary, " ", ""), "123-45-6789", "123456789"} {
		if strings.Contains(string(db)+string(wal), secret) {
			t.Errorf("the database holds %q", secret)
		}
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	for f := range agent.frames {
		b, _ := json.Marshal(f)
		if strings.Contains(string(b), "4012") || strings.Contains(string(b), "6789") {
			t.Errorf("an agent frame holds a secure value: %s", b)
		}
	}
}

func TestFormRightsAreEnforcedOnTheServer(t *testing.T) {
	// ann has secure_input through her workgroup but not initiate.
	e := formsEnv(t, nil)
	visitor, agent, id := openChat(t, e)
	agent.send(map[string]any{"type": "form_request", "conversation": id, "form": "credit_card", "fields": map[string]string{"amount": "1"}})
	if f := agent.next(frameError); f.Code != "no_initiate_secure_input" {
		t.Errorf("without initiate: %+v", f)
	}
	agent.send(map[string]any{"type": "form_request", "conversation": "other", "form": "credit_card"})
	if f := agent.next(frameError); f.Code != "not_found" {
		t.Errorf("foreign conversation: %+v", f)
	}
	// A visitor cannot submit to a request that does not exist.
	visitor.send(map[string]any{"type": "form_submit", "request": "F00", "values": map[string]string{"card_number": "4111111111111111"}})
	if f := visitor.next(frameError); f.Code != "unknown_request" {
		t.Errorf("unknown request: %+v", f)
	}
}

func TestFormRightsEachMissingRight(t *testing.T) {
	cat, _ := chatforms.New(chatforms.Config{
		Forms:           testForms,
		AgentRights:     map[string][]chatforms.Right{"a": {chatforms.RightInitiate}, "b": {chatforms.RightSecureInput, chatforms.RightInitiate}},
		AgentWorkgroups: map[string][]string{"a": {"support"}, "b": {"sales"}},
	})
	if _, err := cat.Authorize("a", "credit_card", "support"); code(err) != "no_secure_input" {
		t.Errorf("no secure input: %v", err)
	}
	if _, err := cat.Authorize("b", "credit_card", "support"); code(err) != "no_workgroup_access" {
		t.Errorf("no workgroup access: %v", err)
	}
}

func TestSupervisorSeesSecureInputCounts(t *testing.T) {
	e := formsEnv(t, map[string][]chatforms.Right{"ann": {chatforms.RightInitiate, chatforms.RightSupervisor}})
	_, agent, id := openChat(t, e)
	agent.send(map[string]any{"type": "form_request", "conversation": id, "form": "ssn"})
	agent.next(frameFormStatus)
	agent.send(map[string]any{"type": "supervise", "workgroup": "support"})
	sup := agent.next(frameSupervision)
	convs := formAsMap(t, sup)["conversations"].([]any)
	if len(convs) != 1 {
		t.Fatalf("supervision %+v", sup)
	}
	c := convs[0].(map[string]any)
	if c["conversation"] != id || c["agent"] != "ann" || c["secure_input"].(map[string]any)["requests"] != float64(1) {
		t.Errorf("supervised conversation %+v", c)
	}
	agents := formAsMap(t, sup)["agents"].([]any)
	if len(agents) != 1 || agents[0].(map[string]any)["chats"] != float64(1) {
		t.Errorf("supervised agents %+v", agents)
	}
	agent.send(map[string]any{"type": "supervise", "workgroup": "sales"})
	if f := agent.next(frameError); f.Code != "forbidden" {
		t.Errorf("supervising a workgroup ann is not in: %+v", f)
	}
	// Without the right: refused.
	e2 := formsEnv(t, nil)
	a2 := e2.agent(t, "ann")
	a2.send(map[string]any{"type": "supervise", "workgroup": "support"})
	if f := a2.next(frameError); f.Code != "forbidden" {
		t.Errorf("supervising without the right: %+v", f)
	}
}

func code(err error) string {
	c, _ := errorCode(err)
	return c
}

// TestEndedConversationForgetsItsForms: however a conversation ends, its
// open form is dropped (the hub's end hook), so no reconnect shows it.
func TestEndedConversationForgetsItsForms(t *testing.T) {
	for _, by := range []string{"agent", "visitor"} {
		t.Run("ended by "+by, func(t *testing.T) {
			e := formsEnv(t, map[string][]chatforms.Right{"ann": {chatforms.RightInitiate}})
			visitor, agent, id := openChat(t, e)
			agent.send(map[string]any{"type": "form_request", "conversation": id, "form": "credit_card", "fields": map[string]string{"amount": "1.00"}})
			visitor.next(frameForm)
			if _, ok := e.web.cfg.Desk.Waiting(id); !ok {
				t.Fatal("the requested form is not waiting")
			}
			if by == "agent" {
				agent.send(map[string]any{"type": "end", "conversation": id})
			} else {
				visitor.send(map[string]any{"type": "end"})
			}
			visitor.next(chat.FrameEnded)
			// The hook runs once the end is delivered: wait for it.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				if _, ok := e.web.cfg.Desk.Waiting(id); !ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the ended conversation's form still waits")
				}
			}

		})
	}
}
