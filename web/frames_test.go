package web

import (
	"testing"

	"github.com/secureinput/gateway/secure"
)

// TestEncodeFrame: web's frames carry the seq and the conversation right
// after their type, as the chat's frames do.
func TestEncodeFrame(t *testing.T) {
	tests := []struct {
		name         string
		conversation string
		seq          int64
		body         any
		want         string
	}{
		{"in a conversation", "C1", 4, formErrorFrame{Type: frameFormError, Request: "F1", Errors: map[string]string{"card_number": "bad"}},
			`{"type":"form_error","seq":4,"conversation":"C1","request":"F1","errors":{"card_number":"bad"}}`},
		{"to an agent", "", 0, callsFrame{Type: frameCalls, Calls: []callInfo{{Call: "c1", Parties: 2}}},
			`{"type":"calls","seq":0,"conversations":[{"call":"c1","parties":2,"monitored":false}]}`},
		{"type only", "C\"2", 9, struct {
			Type string `json:"type"`
		}{"ping"}, `{"type":"ping","seq":9,"conversation":"C\"2"}`},
		{"outcome", "C1", 7, formStatusFrame{Type: frameFormStatus, Request: "F1", Name: "Card", Status: "accepted",
			Outcome: &secure.Outcome{TransactionID: "T1", Status: "accepted"}, Result: "T1 accepted\n"},
			`{"type":"form_status","seq":7,"conversation":"C1","request":"F1","name":"Card","status":"accepted","outcome":{"transaction_id":"T1","status":"accepted"},"result":"T1 accepted\n"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodeFrame(tc.conversation, tc.seq, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("encodeFrame =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
