package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/card"
	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/secure"
)

// Client frame types of the secure forms (docs/protocol.md).
const (
	inForms       = "forms"        // agent: which forms may I send here?
	inFormPrepare = "form_prepare" // agent: open a form (runs its lookup)
	inFormRequest = "form_request" // agent: send a form
	inFormRetry   = "form_retry"   // agent: ask again after a decline or an error
	inFormCancel  = "form_cancel"  // agent or visitor
	inFormSubmit  = "form_submit"  // visitor: the values, never echoed, stored or logged
)

// formInfo describes a form to an agent: what it is and what the agent fills.
type formInfo struct {
	Name        string         `json:"name"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	AgentFields []secure.Field `json:"agent_fields"`
	// Lookup: the form's agent fields come from a lookup service; the
	// console sends form_prepare and may send the form once it is ready.
	Lookup bool `json:"lookup"`
}

// visitorForm is the form the customer fills.
type visitorForm struct {
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Fields      []secure.Field `json:"fields"`
	Attempt     int            `json:"attempt"`
	// AgentValues are what the agent filled in (the amount …), shown to
	// the customer read-only: the agent typed them, they are no secret.
	AgentValues []agentValue `json:"agent_values"`
}

// agentValue is one agent-filled field of a form, as the customer sees it.
type agentValue struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

var errFormsOff = errors.New("web: secure forms are not configured")

// desk returns the secure forms desk, or errFormsOff.
func (s *Server) desk() (*chatforms.Desk, error) {
	if s.cfg.Desk == nil {
		return nil, errFormsOff
	}
	return s.cfg.Desk, nil
}

// formInfos describes forms to an agent.
func formInfos(forms []chatforms.Form) []formInfo {
	out := []formInfo{}
	for _, f := range forms {
		out = append(out, formInfo{Name: f.Name, Title: f.Title, Description: f.Description, AgentFields: f.AgentFields(),
			Lookup: f.Lookup != nil})
	}
	return out
}

// agentForms answers an agent's forms frame.
func (s *Server) agentForms(cl *client, login, conversation string) error {
	desk, err := s.desk()
	if err != nil {
		return err
	}
	forms, canned, err := desk.Forms(login, conversation)
	if err != nil {
		return err
	}
	if canned == nil {
		canned = []chatforms.Canned{}
	}
	cl.send(conversation, chatFormsFrame{Type: frameForms, Forms: formInfos(forms), Canned: canned})
	return nil
}

// FormFrames shows secure form requests on the widget and the console: it
// implements chatforms.Notifier over the hub's connections. It records each
// request's start and outcome in Audit, if set; an error outcome (the
// validation failed closed) is logged as a fail-closed event.
type FormFrames struct {
	Hub    *chat.Hub
	Audit  Auditor
	Logger *slog.Logger
}

// FormOpened implements chatforms.Notifier.
func (n FormFrames) FormOpened(req chatforms.Request) {
	n.Hub.Notify(req.Conversation, true, false, newFormFrame(req))
	n.Hub.Notify(req.Conversation, false, true, statusFrame(req, true))
	if n.Audit != nil && req.Attempts <= 1 {
		n.Audit.Record(context.Background(), audit.Event{Actor: req.Agent, Action: audit.ActionSecureInputStart, Outcome: audit.Success,
			Source: "chat", Target: "conversation " + req.Conversation, Detail: "form " + req.Form.Name})
	}
}

// FormChanged implements chatforms.Notifier.
func (n FormFrames) FormChanged(req chatforms.Request) {
	n.Hub.Notify(req.Conversation, true, false, statusFrame(req, false))
	n.Hub.Notify(req.Conversation, false, true, statusFrame(req, true))
	if req.Outcome == nil && req.State != chatforms.StateCancelled {
		return
	}
	status := req.State
	if req.Outcome != nil {
		status = req.Outcome.Status
	}
	if status == secure.StatusError && n.Logger != nil {
		n.Logger.Warn("web: secure form failed closed: no acceptance without a validation answer", slog.String("fail_closed", "validation"),
			slog.String("conversation", req.Conversation), slog.String("request", req.ID))
	}
	if n.Audit != nil {
		n.Audit.Record(context.Background(), audit.Event{Actor: req.Agent, Action: audit.ActionSecureInputOutcome, Outcome: status,
			Source: "chat", Target: "conversation " + req.Conversation, Detail: "form " + req.Form.Name})
	}
}

// FormRejected implements chatforms.Notifier.
func (n FormFrames) FormRejected(req chatforms.Request, errs map[string]string) {
	n.Hub.Notify(req.Conversation, true, false, formErrorFrame{Type: frameFormError, Request: req.ID, Errors: errs})
	n.Hub.Notify(req.Conversation, false, true, statusFrame(req, true))
}

// newFormFrame gives the customer the form of a waiting request.
func newFormFrame(req chatforms.Request) formFrame {
	values := []agentValue{}
	for _, f := range req.Form.AgentFields() {
		if v, ok := req.AgentValues[f.ID]; ok && v != "" {
			values = append(values, agentValue{ID: f.ID, Name: f.Name, Kind: string(f.Kind), Value: v})
		}
	}
	return formFrame{Type: frameForm, Request: req.ID, Form: visitorForm{
		Title: req.Form.Title, Description: req.Form.Description, Fields: req.Form.CustomerFields(), Attempt: req.Attempts,
		AgentValues: values,
	}}
}

// statusFrame describes a request's state; the agent's copy carries the
// result string.
func statusFrame(req chatforms.Request, forAgent bool) formStatusFrame {
	f := formStatusFrame{Type: frameFormStatus, Request: req.ID, Status: req.State, Name: req.Form.Title}
	if req.Outcome != nil {
		out := *req.Outcome
		f.Outcome = &out
		if forAgent {
			f.Result = out.Result()
		}
	}
	return f
}

// prepareForm is an agent's form_prepare: the desk runs the form's lookup;
// the agent gets a form_draft (the looked-up values are already redacted).
func (s *Server) prepareForm(ctx context.Context, cl *client, login, conversation, form string, fields map[string]string) error {
	desk, err := s.desk()
	if err != nil {
		return err
	}
	dr, err := desk.Prepare(ctx, login, conversation, form, fields)
	if err != nil {
		return err
	}
	if dr.Reasons == nil {
		dr.Reasons = []string{}
	}
	cl.send(conversation, formDraftFrame{Type: frameFormDraft, Form: dr.Form, Values: dr.Values, ReadOnly: dr.ReadOnly,
		Ready: dr.Ready, Reasons: dr.Reasons})
	return nil
}

// identify gives the desk the attributes a website attached to the visitor
// of a new conversation. Badly signed ones are kept apart as unverified by
// the desk; the chat goes on either way.
func (s *Server) identify(conversation string, hello inFrame) {
	if s.cfg.Desk == nil || len(hello.Attributes) == 0 {
		return
	}
	if err := s.cfg.Desk.Identify(conversation, hello.Page, hello.Attributes, hello.AttributesExpires, hello.AttributesSignature); err != nil {
		s.log.Info("web: website attributes not verified", slog.String("conversation", conversation), slog.String("why", codeOf(err)))
	}
}

// Interactions gives the chatforms desk what a live conversation's forms
// may pass on: its service, workgroup and page (chat.Hub's, redacted).
type Interactions struct{ Hub *chat.Hub }

// Interaction implements chatforms.Interactions.
func (i Interactions) Interaction(conversation string) chatforms.Interaction {
	in := chatforms.Interaction{Attributes: map[string]string{}}
	info, _, err := i.Hub.Describe(context.Background(), conversation)
	if err != nil {
		return in
	}
	for k, v := range map[string]string{chatforms.AttrService: info.Service, chatforms.AttrWorkgroup: info.Workgroup,
		chatforms.AttrPage: info.Page} {
		if v != "" {
			in.Attributes[k] = v
		}
	}
	return in
}

// requestForm is an agent's form_request.
func (s *Server) requestForm(ctx context.Context, login, conversation, form string, fields map[string]string) error {
	desk, err := s.desk()
	if err != nil {
		return err
	}
	_, err = desk.Request(ctx, login, conversation, form, fields)
	return err
}

// retryForm is an agent's form_retry.
func (s *Server) retryForm(ctx context.Context, login, conversation, id string) error {
	desk, err := s.desk()
	if err != nil {
		return err
	}
	_, err = desk.Retry(ctx, login, conversation, id)
	return err
}

// cancelForm is a form_cancel from the agent (login set) or the visitor.
func (s *Server) cancelForm(ctx context.Context, login, conversation, id string) error {
	desk, err := s.desk()
	if err != nil {
		return err
	}
	_, err = desk.Cancel(ctx, login, conversation, id)
	return err
}

// submitForm is the visitor's form_submit: the values go to the desk, which
// wipes them; they are never echoed, stored or logged.
func (s *Server) submitForm(conversation, id string, values map[string]secure.Value) error {
	desk, err := s.desk()
	if err != nil {
		chatforms.Wipe(values)
		return err
	}
	return desk.Submit(conversation, id, values)
}

// cards serves GET /api/v1/cards: the brand table of the card package, which
// the widget's as-you-type check mirrors.
func (s *Server) cards(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, map[string]any{"brands": card.Brands, "unknown": card.Unknown})
}

// conversationInfo serves GET /api/conversations/{id}: state and secure-input
// counts, for agents of the workgroup and its supervisors. No value, no text.
func (s *Server) conversationInfo(w http.ResponseWriter, r *http.Request) {
	sess, _ := s.sessionOf(r, true)
	if sess == nil {
		writeError(w, http.StatusUnauthorized, "unauthenticated", "log in first")
		return
	}
	id := chi.URLParam(r, "id")
	info, agent, err := s.hub.Describe(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusNotFound, codeOf(err), "no such conversation")
		return
	}
	if !s.hub.InWorkgroup(sess.login, info.Workgroup) && agent != sess.login {
		writeError(w, http.StatusForbidden, "forbidden", "not a conversation of your workgroups")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"conversation": info.Conversation, "service": info.Service, "workgroup": info.Workgroup,
		"state": info.State, "agent": agent, "since": info.Since,
		"secure_input": s.usage(r.Context(), id),
	})
}

// usage counts a conversation's secure inputs from its stored history, so
// the counts survive a restart and cover ended conversations.
func (s *Server) usage(ctx context.Context, conversation string) chatforms.Usage {
	counts, err := s.hub.Tags(ctx, conversation, chatforms.EventType)
	if err != nil {
		s.log.Warn("web: secure input counts could not be read", slog.String("conversation", conversation), slog.Any("err", err))
	}
	return chatforms.CountUsage(counts)
}

// waitingForm returns the request whose form the visitor of conversation
// has yet to send.
func (s *Server) waitingForm(conversation string) (chatforms.Request, bool) {
	if s.cfg.Desk == nil {
		return chatforms.Request{}, false
	}
	return s.cfg.Desk.Waiting(conversation)
}
