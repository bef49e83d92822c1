package web

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
)

// TestServiceStatus: GET /api/v1/services/{name} gives the title and
// greeting and whether anyone answers, which turns true when an agent of
// the workgroup is available.
func TestServiceStatus(t *testing.T) {
	services := []chat.Service{{Name: "support", Title: "Help", Workgroup: "support", Greeting: "Hi there"}, {Name: "sales", Workgroup: "sales"}}
	e := newEnvServices(t, 0, services, nil)
	get := func() (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(e.srv.URL + "/api/v1/services/support")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, m := get()
	if code != 200 || m["title"] != "Help" || m["greeting"] != "Hi there" || m["open"] != true || m["available"] != false {
		t.Errorf("nobody signed in: %d %v", code, m)
	}
	e.agent(t, "ann") // signs in and is available
	if _, m := get(); m["available"] != true {
		t.Errorf("Ann available: %v", m)
	}
	resp, err := http.Get(e.srv.URL + "/api/v1/services/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown service: %s, want 404", resp.Status)
	}
}

// TestHelloPageReachesTheQueue: the page of a visitor's hello is shown in
// the queue without its query, and the first message with it.
func TestHelloPageReachesTheQueue(t *testing.T) {
	e := newEnv(t, nil)
	agent := e.agent(t, "ann")
	visitor, _, _ := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
	visitor.send(map[string]any{"type": "hello", "service": "support", "page": "https://shop.example/cart?card=4111111111111111"})
	visitor.next(chat.FrameWelcome)
	visitor.send(map[string]any{"type": "message", "client_id": "1", "text": "card 4111 1111 1111 1111 please"})
	for {
		q := agent.next(chat.FrameQueue)
		if len(q.Chats) == 1 && q.Chats[0].FirstMessage != "" {
			if q.Chats[0].Page != "https://shop.example/cart" || q.Chats[0].FirstMessage != "card ################### please" {
				t.Errorf("queue entry %+v", q.Chats[0])
			}
			return
		}
	}
}

// TestVisitorFormShowsAgentValues: the form frame carries what the agent
// filled in (the amount), for the customer to read.
func TestVisitorFormShowsAgentValues(t *testing.T) {
	e := formsEnv(t, map[string][]chatforms.Right{"ann": {chatforms.RightInitiate}})
	visitor, agent, id := openChat(t, e)
	agent.send(map[string]any{"type": "form_request", "conversation": id, "form": "credit_card", "fields": map[string]string{"amount": "42.50"}})
	f := visitor.next(frameForm)
	form, _ := f.Form.(map[string]any)
	values, _ := form["agent_values"].([]any)
	if len(values) != 1 {
		t.Fatalf("agent_values = %v, want the amount", form["agent_values"])
	}
	v := values[0].(map[string]any)
	if v["id"] != "amount" || v["name"] != "Amount" || v["value"] != "42.50" || v["kind"] != "amount" {
		t.Errorf("agent value %v", v)
	}
	for _, field := range form["fields"].([]any) {
		if field.(map[string]any)["id"] == "amount" {
			t.Error("the amount is among the fields the customer fills")
		}
	}
}
