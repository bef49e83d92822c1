package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/secureinput/gateway/card"
	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/secure"
)

// Client frame types of the secure forms (docs/protocol.md).
const (
	inForms       = "forms"        // agent: which forms may I send here?
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
}

// visitorForm is the form the customer fills.
type visitorForm struct {
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Fields      []secure.Field `json:"fields"`
	Attempt     int            `json:"attempt"`
}

// formsEnabled reports whether secure forms are configured.
func (s *Server) formsEnabled() bool { return s.cfg.Forms != nil && s.cfg.Pipeline != nil }

var errFormsOff = errors.New("web: secure forms are not configured")

// handlingAgent checks that login handles the live conversation and returns
// its workgroup.
func (s *Server) handlingAgent(conversation, login string) (string, error) {
	wg, agent, ok := s.hub.Handling(conversation)
	switch {
	case !ok:
		return "", chat.ErrNotFound
	case agent != login:
		return "", chat.ErrForbidden
	case !s.formsEnabled():
		return "", errFormsOff
	}
	return wg, nil
}

// agentForms answers an agent's forms frame.
func (s *Server) agentForms(cl *client, login, conversation string) error {
	wg, err := s.handlingAgent(conversation, login)
	if err != nil {
		return err
	}
	forms := []formInfo{}
	for _, f := range s.cfg.Forms.Offered(login, wg) {
		forms = append(forms, formInfo{Name: f.Name, Title: f.Title, Description: f.Description, AgentFields: f.AgentFields()})
	}
	canned := s.cfg.Forms.Canned(login, wg)
	if canned == nil {
		canned = []chatforms.Canned{}
	}
	cl.Deliver(chat.Frame{Type: chat.FrameForms, Conversation: conversation, Forms: forms, Canned: canned})
	return nil
}

// requestForm is an agent's form_request: authorise, open the request, tell
// both sides.
func (s *Server) requestForm(ctx context.Context, login, conversation, form string, fields map[string]string) error {
	wg, err := s.handlingAgent(conversation, login)
	if err != nil {
		return err
	}
	f, err := s.cfg.Forms.Authorize(login, form, wg)
	if err != nil {
		return err
	}
	if fields == nil {
		fields = map[string]string{}
	}
	req, err := s.tracker.Start(conversation, login, f, fields, time.Now())
	if err != nil {
		return err
	}
	s.log.Info("web: secure form requested", slog.String("conversation", conversation), slog.String("request", req.ID),
		slog.String("form", f.Name), slog.String("agent", login))
	s.hub.Record(ctx, conversation, chat.FrameSecureInput, "requested", fmt.Sprintf("Secure data has been requested: %s (by %s)", f.Title, login))
	s.sendForm(req)
	return nil
}

// sendForm gives the customer the form of a waiting request and the agent
// its state.
func (s *Server) sendForm(req chatforms.Request) {
	s.hub.Notify(req.Conversation, true, false, s.formFrame(req))
	s.hub.Notify(req.Conversation, false, true, statusFrame(req, true))
}

func (s *Server) formFrame(req chatforms.Request) chat.Frame {
	return chat.Frame{Type: chat.FrameForm, Request: req.ID, Form: visitorForm{
		Title: req.Form.Title, Description: req.Form.Description, Fields: req.Form.CustomerFields(), Attempt: req.Attempts,
	}}
}

// statusFrame describes a request's state; the agent's copy carries the
// result string.
func statusFrame(req chatforms.Request, forAgent bool) chat.Frame {
	f := chat.Frame{Type: chat.FrameFormStatus, Request: req.ID, Status: req.State, Name: req.Form.Title}
	if req.Outcome != nil {
		f.Outcome = *req.Outcome
		if forAgent {
			f.Result = req.Outcome.Result()
		}
	}
	return f
}

// retryForm is an agent's form_retry.
func (s *Server) retryForm(ctx context.Context, login, conversation, id string) error {
	if _, err := s.handlingAgent(conversation, login); err != nil {
		return err
	}
	req, err := s.tracker.Retry(conversation, id)
	if err != nil {
		return err
	}
	s.hub.Record(ctx, conversation, chat.FrameSecureInput, "retried", fmt.Sprintf("Secure data has been requested again: %s (attempt %d)", req.Form.Title, req.Attempts))
	s.sendForm(req)
	return nil
}

// cancelForm is a form_cancel from the agent (login set) or the visitor.
func (s *Server) cancelForm(ctx context.Context, login, conversation, id string) error {
	who := "the customer"
	if login != "" {
		if _, err := s.handlingAgent(conversation, login); err != nil {
			return err
		}
		who = login
	}
	req, err := s.tracker.Cancel(conversation, id)
	if err != nil {
		return err
	}
	s.hub.Record(ctx, conversation, chat.FrameSecureInput, chatforms.StateCancelled, fmt.Sprintf("Secure data request cancelled by %s: %s", who, req.Form.Title))
	s.hub.Notify(conversation, true, false, statusFrame(req, false))
	s.hub.Notify(conversation, false, true, statusFrame(req, true))
	return nil
}

// submitForm is the visitor's form_submit. The values go to the pipeline,
// which wipes them; they are never echoed, stored or logged. The call runs
// on its own goroutine so the chat goes on meanwhile.
func (s *Server) submitForm(conversation, id string, values map[string]secure.Value) error {
	wipe := func() {
		for k, v := range values {
			v.Wipe()
			delete(values, k)
		}
	}
	if !s.formsEnabled() {
		wipe()
		return errFormsOff
	}
	req, err := s.tracker.Submit(conversation, id)
	if err != nil {
		wipe()
		return err
	}
	s.hub.Notify(conversation, true, false, statusFrame(req, false))
	s.hub.Notify(conversation, false, true, statusFrame(req, true))
	s.calls.Add(1)
	go func() {
		defer s.calls.Done()
		out, err := s.cfg.Pipeline.Validate(s.shutdownCtx, secure.Request{
			Form: req.Form.Name, Fields: req.Form.Fields, Customer: values, Agent: req.AgentValues,
		})
		var fe secure.FieldErrors
		if errors.As(err, &fe) {
			req, _ := s.tracker.Reopen(conversation, id)
			errs := map[string]string{}
			for _, e := range fe {
				errs[e.Field] = e.Err.Error()
			}
			s.hub.Notify(conversation, true, false, chat.Frame{Type: chat.FrameFormError, Request: id, Errors: errs})
			s.hub.Notify(conversation, false, true, statusFrame(req, true))
			return
		}
		req, ferr := s.tracker.Finish(conversation, id, out)
		if ferr != nil {
			return // cancelled meanwhile
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.hub.Record(ctx, conversation, chat.FrameSecureInput, req.State, outcomeText(req))
		s.hub.Notify(conversation, true, false, statusFrame(req, false))
		s.hub.Notify(conversation, false, true, statusFrame(req, true))
	}()
	return nil
}

// outcomeText is what the transcript keeps of an outcome: the fact, never a
// value (the brand and last four digits are for the agent's screen only).
func outcomeText(req chatforms.Request) string {
	o := req.Outcome
	switch req.State {
	case chatforms.StateAccepted:
		return fmt.Sprintf("Secure data accepted: %s, transaction %s", req.Form.Title, o.TransactionID)
	case chatforms.StateDeclined:
		return fmt.Sprintf("Secure data declined: %s, transaction %s: %s", req.Form.Title, o.TransactionID, o.Details)
	}
	return fmt.Sprintf("Secure data could not be validated: %s, transaction %s", req.Form.Title, o.TransactionID)
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
	sess := s.sessionOf(r)
	if sess == nil {
		writeError(w, http.StatusUnauthorized, "unauthenticated", "log in first")
		return
	}
	id := chi.URLParam(r, "id")
	info, agent, err := s.hub.Describe(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusNotFound, chat.Code(err), "no such conversation")
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
	counts, _ := s.hub.Tags(ctx, conversation, chat.FrameSecureInput)
	u := chatforms.Usage{Requests: counts["requested"], Outcomes: map[string]int{}}
	for _, st := range []string{chatforms.StateAccepted, chatforms.StateDeclined, chatforms.StateError, chatforms.StateCancelled} {
		u.Outcomes[st] = counts[st]
	}
	return u
}
