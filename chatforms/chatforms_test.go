package chatforms

import (
	"errors"
	"testing"
	"time"

	"github.com/secureinput/gateway/secure"
)

var creditCard = Form{
	Name: "credit_card", Title: "Credit Card", Workgroups: []string{"support"},
	Fields: []secure.Field{
		{ID: "amount", Name: "Amount", Kind: secure.KindAmount, AgentFills: true},
		{ID: "card_number", Name: "Card number", Kind: secure.KindCardNumber},
	},
}

var salesNote = Form{Name: "note", Title: "Secure note", Workgroups: []string{"sales"},
	Fields: []secure.Field{{ID: "note", Kind: secure.KindNote}}}

func catalog(t *testing.T) *Catalog {
	t.Helper()
	c, err := New(Config{
		Forms:           []Form{creditCard, salesNote},
		WorkgroupRights: map[string][]Right{"support": {RightSecureInput}},
		AgentRights:     map[string][]Right{"ann": {RightInitiate}, "bob": {RightSecureInput}, "sue": {RightSecureInput, RightInitiate, RightSupervisor}},
		AgentWorkgroups: map[string][]string{"ann": {"support"}, "bob": {"support"}, "sam": {"sales"}, "sue": {"sales"}},
		Canned: map[string][]Canned{"support": {
			{Title: "Hello", Text: "Hello!"},
			{Title: "Take payment", Text: "I'll send a secure form.", Form: "credit_card"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRightsAreTheUnion(t *testing.T) {
	c := catalog(t)
	r := c.Rights("ann")
	if !r[RightSecureInput] || !r[RightInitiate] || r[RightSupervisor] {
		t.Errorf("ann's rights = %v, want secure_input (workgroup) and initiate (own)", r)
	}
}

func TestAuthorize(t *testing.T) {
	c := catalog(t)
	cases := []struct {
		agent, form, workgroup string
		want                   error
	}{
		{"ann", "credit_card", "support", nil},
		{"bob", "credit_card", "support", ErrNoInitiate},  // secure input but not initiate
		{"sam", "note", "sales", ErrNoSecureInput},        // no rights at all
		{"ann", "nope", "support", ErrUnknownForm},        //
		{"ann", "note", "sales", ErrNoAccess},             // a sales form in a sales chat, but ann is not in sales
		{"ann", "credit_card", "sales", ErrNotForService}, // the form is not assigned to sales
		{"sue", "credit_card", "support", ErrNoAccess},    // sue has the rights but not the support workgroup
	}
	for _, tc := range cases {
		_, err := c.Authorize(tc.agent, tc.form, tc.workgroup)
		if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
			t.Errorf("Authorize(%s, %s, %s) = %v, want %v", tc.agent, tc.form, tc.workgroup, err, tc.want)
		}
	}
	if got := c.Offered("ann", "support"); len(got) != 1 || got[0].Name != "credit_card" {
		t.Errorf("offered to ann = %v", got)
	}
	if got := c.Offered("sam", "sales"); got != nil {
		t.Errorf("offered to sam (no secure input right) = %v", got)
	}
	if got := c.Canned("bob", "support"); len(got) != 1 {
		t.Errorf("bob may not initiate: canned = %v, want only the plain one", got)
	}
	if got := c.Canned("ann", "support"); len(got) != 2 {
		t.Errorf("ann's canned = %v", got)
	}
	if !c.Supervises("sue", "sales") || c.Supervises("ann", "support") {
		t.Error("supervisor right wrong")
	}
}

func TestBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"duplicate form":    {Forms: []Form{creditCard, creditCard}},
		"no customer field": {Forms: []Form{{Name: "x", Fields: []secure.Field{{ID: "a", Kind: secure.KindAmount, AgentFills: true}}}}},
		"unknown kind":      {Forms: []Form{{Name: "x", Fields: []secure.Field{{ID: "a", Kind: "blood_type"}}}}},
		"reserved id":       {Forms: []Form{{Name: "x", Fields: []secure.Field{{ID: "transactionId", Kind: secure.KindText}}}}},
		"unknown right":     {AgentRights: map[string][]Right{"a": {"root"}}},
		"canned bad form":   {Canned: map[string][]Canned{"w": {{Title: "t", Form: "nope"}}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLifecycle(t *testing.T) {
	tr := NewTracker()
	now := time.Now()
	if _, err := tr.Start("c1", "ann", creditCard, map[string]string{"amount": "abc"}, now, nil); !errors.Is(err, secure.ErrFields) {
		t.Errorf("bad agent value: %v", err)
	}
	r, err := tr.Start("c1", "ann", creditCard, map[string]string{"amount": "12.50"}, now, nil)
	if err != nil || r.State != StateWaiting {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := tr.Start("c1", "ann", creditCard, map[string]string{"amount": "1"}, now, nil); !errors.Is(err, ErrBusy) {
		t.Errorf("second open request: %v", err)
	}
	if _, err := tr.Retry("c1", r.ID); !errors.Is(err, ErrState) {
		t.Errorf("retry while waiting: %v", err)
	}
	if _, err := tr.Submit("c2", r.ID); !errors.Is(err, ErrUnknownRequest) {
		t.Errorf("submit from another conversation: %v", err)
	}
	tr.Submit("c1", r.ID)
	r, _ = tr.Finish("c1", r.ID, secure.Outcome{Status: secure.StatusDeclined})
	if r.State != StateDeclined {
		t.Errorf("state %s", r.State)
	}
	r, _ = tr.Retry("c1", r.ID)
	if r.State != StateWaiting || r.Attempts != 2 {
		t.Errorf("after retry %+v", r)
	}
	tr.Submit("c1", r.ID)
	tr.Finish("c1", r.ID, secure.Outcome{Status: "error"})
	r, _ = tr.Cancel("c1", r.ID)
	if r.State != StateCancelled {
		t.Errorf("state %s", r.State)
	}
	if _, err := tr.Start("c1", "ann", creditCard, map[string]string{"amount": "1"}, now, nil); err != nil {
		t.Errorf("a new request after cancel: %v", err)
	}
}
