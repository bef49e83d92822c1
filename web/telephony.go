package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/secure"
	"github.com/secureinput/gateway/voice"
)

// TelephonyConfig enables the telephony platform API (docs/telephony.md).
type TelephonyConfig struct {
	Manager *voice.Manager
	// APIKey authenticates the platform (Authorization: Bearer KEY).
	APIKey string
	// MediaAddress is the IP the RTP ports listen on (default 127.0.0.1).
	MediaAddress string
}

// Agent frames of calls (docs/telephony.md).
const (
	inCallForms       = "call_forms"        // the forms this agent may use on a call
	inCallSecureInput = "call_secure_input" // Secure Input → Send to IVR
	inCallFormPrepare = "call_form_prepare" // open a form for a call: runs its lookup, answers form_draft
	inCallCancel      = "call_cancel"
	inCallRestart     = "call_restart" // agent-assisted: ask for the current field again
	inCalls           = "calls"        // which calls am I on?
)

// telephonyRoutes mounts the platform API.
func (s *Server) telephonyRoutes(r chi.Router) {
	r.Use(s.platformAuth)
	r.Post("/calls", s.registerCall)
	r.Get("/calls/{call}", s.getCall)
	r.Delete("/calls/{call}", s.endCall)
	r.Get("/calls/{call}/session", s.callSession)
	r.Post("/calls/{call}/session/digits", s.callDigits)
	r.Post("/calls/{call}/session/rtp", s.callRTP)
}

func (s *Server) platformAuth(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(s.cfg.Telephony.APIKey))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(key))
		if !ok || s.cfg.Telephony.APIKey == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			writeError(w, http.StatusUnauthorized, "unauthenticated", "Authorization: Bearer <platform API key> required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// telephonyError answers an API error with its status and code.
func telephonyError(w http.ResponseWriter, err error) {
	code, status := errorCode(err)
	writeError(w, status, code, err.Error())
}

type callRequest struct {
	Call      string `json:"call"`
	Agent     string `json:"agent"`
	Parties   int    `json:"parties"`
	Monitored bool   `json:"monitored"`
	// Caller and Account are the call's as the platform registered them,
	// for the forms that pass them on; never echoed.
	Caller  string `json:"caller,omitempty"`
	Account string `json:"account,omitempty"`
}

// registerCall is POST /calls: register or update a call.
func (s *Server) registerCall(w http.ResponseWriter, r *http.Request) {
	var req callRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Call == "" || req.Agent == "" {
		writeError(w, http.StatusBadRequest, "bad_request", `body must be {"call", "agent", "parties", "monitored"}`)
		return
	}
	if !validCallID(req.Call) || !chat.ValidID(req.Agent) {
		writeError(w, http.StatusBadRequest, "bad_request", "call must be 1 to 128 characters of A-Z a-z 0-9 _ - . : @ +; agent a login (1 to 64 of A-Z a-z 0-9 _ -)")
		return
	}
	if req.Parties == 0 {
		req.Parties = 2
	}
	attrs := map[string]string{}
	for k, v := range map[string]string{chatforms.AttrCaller: req.Caller, chatforms.AttrAccount: req.Account} {
		if v != "" {
			attrs[k] = v
		}
	}
	if secure.CheckAttributes(attrs) != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "caller and account: at most 1024 bytes of UTF-8 without control characters")
		return
	}
	mgr := s.cfg.Telephony.Manager
	mgr.RegisterCall(voice.Call{ID: req.Call, Agent: req.Agent, Parties: req.Parties, Monitored: req.Monitored, Attributes: attrs})
	s.log.Info("voice: call registered", slog.String("call", s.hub.MaskText(req.Call)), slog.String("agent", req.Agent), slog.Int("parties", req.Parties))
	s.sendCalls(req.Agent)
	req.Call = s.hub.MaskText(req.Call)
	req.Caller, req.Account = "", ""
	writeJSON(w, http.StatusOK, req)
}

// getCall is GET /calls/{call}: the call and its secure-input counts.
func (s *Server) getCall(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "call")
	c, ok := s.cfg.Telephony.Manager.Call(id)
	if !ok {
		telephonyError(w, voice.ErrUnknownCall)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"call": s.hub.MaskText(c.ID), "agent": c.Agent, "parties": c.Parties, "monitored": c.Monitored,
		"secure_input": s.cfg.Telephony.Manager.UsageOf(id)})
}

func (s *Server) endCall(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "call")
	c, ok := s.cfg.Telephony.Manager.Call(id)
	if !ok {
		telephonyError(w, voice.ErrUnknownCall)
		return
	}
	s.cfg.Telephony.Manager.EndCall(id)
	s.sendCalls(c.Agent)
	w.WriteHeader(http.StatusNoContent)
}

// sendCalls tells an agent which calls they are on.
func (s *Server) sendCalls(agent string) {
	calls := []callInfo{}
	for _, c := range s.cfg.Telephony.Manager.CallsOf(agent) {
		calls = append(calls, callInfo{s.hub.MaskText(c.ID), c.Parties, c.Monitored})
	}
	slices.SortFunc(calls, func(a, b callInfo) int { return strings.Compare(a.Call, b.Call) })
	s.hub.NotifyAgent(agent, callsFrame{Type: frameCalls, Calls: calls})
}

func (s *Server) callSession(w http.ResponseWriter, r *http.Request) {
	info, ok := s.cfg.Telephony.Manager.SessionOf(chi.URLParam(r, "call"))
	if !ok {
		telephonyError(w, voice.ErrUnknownSession)
		return
	}
	writeJSON(w, http.StatusOK, s.shownSession(info))
}

// validCallID is the syntax of a platform's call id.
func validCallID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_-.:@+", c) >= 0) {
			return false
		}
	}
	return true
}

// shownSession is info as the gateway shows, logs and echoes it: its call
// id passed through the engine, so that a platform whose call ids hold a
// card-like number does not put one on an agent's screen.
func (s *Server) shownSession(info voice.SessionInfo) voice.SessionInfo {
	info.Call = s.hub.MaskText(info.Call)
	return info
}

// resolveCall maps the call id an agent's console sends (the masked one it
// was shown) to the platform's, among the agent's calls.
func (s *Server) resolveCall(login, shown string) string {
	if s.cfg.Telephony.Manager == nil {
		return shown
	}
	for _, c := range s.cfg.Telephony.Manager.CallsOf(login) {
		if c.ID == shown || s.hub.MaskText(c.ID) == shown {
			return c.ID
		}
	}
	return shown
}

// callDigits is POST /calls/{call}/session/digits: keys the platform
// gathered itself, with the sequence number of the first (optional), so
// that concurrent or retried pushes are applied in order and once. They are
// secure values: never logged or echoed. Only a collecting session takes
// keys: 409 not_collecting otherwise.
func (s *Server) callDigits(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Digits string `json:"digits"`
		Seq    int    `json:"seq"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
	err := json.Unmarshal(body, &req)
	clear(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", `body must be {"digits": "…", "seq": 1}`)
		return
	}
	mgr := s.cfg.Telephony.Manager
	info, ok := mgr.SessionOf(chi.URLParam(r, "call"))
	if !ok {
		telephonyError(w, voice.ErrUnknownSession)
		return
	}
	if _, err := mgr.KeysAt(r.Context(), info.ID, req.Seq, req.Digits, time.Now()); err != nil {
		if errors.Is(err, voice.ErrUnknownSession) { // it ended meanwhile
			err = fmt.Errorf("%w (state %s)", voice.ErrNotCollecting, voice.StateEnded)
		}
		if info.State == voice.StateEnded {
			err = fmt.Errorf("%w (state %s)", voice.ErrNotCollecting, info.State)
		}
		telephonyError(w, err)
		return
	}
	after, _ := mgr.Session(info.ID)
	writeJSON(w, http.StatusOK, s.shownSession(after))
}

// callRTP is POST /calls/{call}/session/rtp: open a UDP port for the
// caller's RTP, from source only. The telephone-event payload type must be
// dynamic (96–127; default 101); a refusal leaves the session as it was.
func (s *Server) callRTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Source      string `json:"source"`
		PayloadType *int   `json:"payload_type"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Source == "" {
		writeError(w, http.StatusBadRequest, "bad_request", `body must be {"source": "ip:port", "payload_type": 101}`)
		return
	}
	src, err := net.ResolveUDPAddr("udp", req.Source)
	if err != nil || src.IP == nil {
		writeError(w, http.StatusBadRequest, "bad_request", "source must be ip:port")
		return
	}
	pt := 101
	if req.PayloadType != nil {
		pt = *req.PayloadType
	}
	if err := voice.CheckEventPayloadType(pt); err != nil {
		telephonyError(w, err)
		return
	}
	mgr := s.cfg.Telephony.Manager
	info, ok := mgr.SessionOf(chi.URLParam(r, "call"))
	if !ok || info.State == voice.StateEnded {
		telephonyError(w, voice.ErrUnknownSession)
		return
	}
	addr := s.cfg.Telephony.MediaAddress
	if addr == "" {
		addr = "127.0.0.1"
	}
	port, err := mgr.OpenRTP(info.ID, net.JoinHostPort(addr, "0"), src, pt)
	if err != nil {
		telephonyError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"address": addr, "port": port.Port(), "payload_type": pt})
}

// Agent side.

// callSecureInput is the agent's Secure Input → Send to IVR.
func (s *Server) callSecureInput(ctx context.Context, login string, f inFrame) error {
	if s.cfg.Telephony.Manager == nil || s.cfg.Desk == nil {
		return errFormsOff
	}
	f.Call = s.resolveCall(login, f.Call)
	c, ok := s.cfg.Telephony.Manager.Call(f.Call)
	if !ok {
		return voice.ErrUnknownCall
	}
	if c.Agent != login {
		return voice.ErrNotOnCall
	}
	form, err := s.cfg.Desk.Catalog().Authorize(login, f.Form, s.hub.WorkgroupsOf(login)...)
	if err != nil {
		return err
	}
	mode := f.Mode
	if mode == "" {
		mode = voice.ModeHold
	}
	// The same form as in a chat: its lookup runs now, its attributes and
	// the call's go with the values.
	now := time.Now()
	values, attrs, err := chatforms.Ready(ctx, form, callInteraction(c), f.Fields, now)
	if err != nil {
		return err
	}
	sess, err := s.cfg.Telephony.Manager.Begin(ctx, voice.BeginOptions{Call: f.Call, Agent: login, Mode: mode, Form: form.Name, Fields: form.Fields,
		AgentValues: values, Attributes: attrs, Now: now})
	if err != nil {
		return err
	}
	shown := s.hub.MaskText(f.Call)
	s.log.Info("voice: secure session begun", slog.Bool("audit", true), slog.String("call", shown), slog.String("session", sess.ID), slog.String("form", form.Name), slog.String("mode", mode))
	// The agent's frame of the start went out from the manager's observer
	// (CallFrames.Started), before the platform could acknowledge.
	s.cfg.Audit.Record(ctx, audit.Event{Actor: login, Action: audit.ActionSecureInputStart, Outcome: audit.Success, Source: "voice",
		Target: "call " + shown, Detail: "form " + form.Name + ", mode " + mode})
	return nil
}

// callInteraction is what a form may learn of a call.
func callInteraction(c voice.Call) chatforms.Interaction {
	in := chatforms.Interaction{Attributes: maps.Clone(c.Attributes)}
	if in.Attributes == nil {
		in.Attributes = map[string]string{}
	}
	return in
}

// callFormPrepare is the agent's call_form_prepare: the form's lookup for
// the call, answered as a form_draft; nothing is kept.
func (s *Server) callFormPrepare(ctx context.Context, cl *client, login string, f inFrame) error {
	if s.cfg.Telephony.Manager == nil || s.cfg.Desk == nil {
		return errFormsOff
	}
	call := s.resolveCall(login, f.Call)
	c, ok := s.cfg.Telephony.Manager.Call(call)
	if !ok || c.Agent != login {
		return voice.ErrUnknownCall
	}
	form, err := s.cfg.Desk.Catalog().Authorize(login, f.Form, s.hub.WorkgroupsOf(login)...)
	if err != nil {
		return err
	}
	dr := chatforms.Preview(ctx, form, callInteraction(c), f.Fields, time.Now())
	if dr.Reasons == nil {
		dr.Reasons = []string{}
	}
	cl.send("", formDraftFrame{Type: frameFormDraft, Call: s.hub.MaskText(call), Form: dr.Form, Values: dr.Values, ReadOnly: dr.ReadOnly,
		Ready: dr.Ready, Reasons: dr.Reasons})
	return nil
}

// agentCallForms answers call_forms: the forms for a call.
func (s *Server) agentCallForms(cl *client, login, call string) error {
	if s.cfg.Telephony.Manager == nil || s.cfg.Desk == nil {
		return errFormsOff
	}
	call = s.resolveCall(login, call)
	if c, ok := s.cfg.Telephony.Manager.Call(call); !ok || c.Agent != login {
		return voice.ErrUnknownCall
	}
	forms := s.cfg.Desk.Catalog().Offered(login, s.hub.WorkgroupsOf(login)...)
	cl.send("", callFormsFrame{Type: frameForms, Call: s.hub.MaskText(call), Forms: formInfos(forms)})
	return nil
}

// CallFrames shows secure IVR sessions on the agent's console: it
// implements voice.Observer over the hub's agent connections.
type CallFrames struct {
	Hub    *chat.Hub
	Logger *slog.Logger // the audit line of each ended session
	Audit  Auditor      // records each session's start and outcome, if set
}

// Started implements voice.Observer: the session began, waiting for the
// platform or collecting at once.
func (o CallFrames) Started(info voice.SessionInfo) { o.notify(info, nil) }

// Collecting implements voice.Observer: the platform acknowledged, the
// caller is prompted.
func (o CallFrames) Collecting(info voice.SessionInfo) { o.notify(info, nil) }

// notify sends the agent a call_session frame of info (its call id masked)
// and of progress, if any.
func (o CallFrames) notify(info voice.SessionInfo, p *voice.Progress) {
	info.Call = o.Hub.MaskText(info.Call)
	o.Hub.NotifyAgent(info.Agent, callSessionFrame{Type: frameCallSession, Call: info.Call, Session: info, Progress: p})
}

// Progress implements voice.Observer.
func (o CallFrames) Progress(info voice.SessionInfo, p voice.Progress) { o.notify(info, &p) }

// Ended implements voice.Observer.
func (o CallFrames) Ended(info voice.SessionInfo) {
	info.Call = o.Hub.MaskText(info.Call)
	status := "error"
	if info.Outcome != nil {
		status = info.Outcome.Status
	}
	if o.Logger != nil {
		o.Logger.Info("voice: secure session ended", slog.Bool("audit", true), slog.String("agent", info.Agent), slog.String("call", info.Call), slog.String("session", info.ID), slog.String("status", status))
		if status == secure.StatusError {
			o.Logger.Warn("voice: secure session failed closed", slog.String("fail_closed", "validation"), slog.String("call", info.Call), slog.String("session", info.ID))
		}
	}
	if o.Audit != nil {
		o.Audit.Record(context.Background(), audit.Event{Actor: info.Agent, Action: audit.ActionSecureInputOutcome, Outcome: status,
			Source: "voice", Target: "call " + info.Call, Detail: "form " + info.Form})
	}
	o.Hub.NotifyAgent(info.Agent, callSessionFrame{Type: frameCallSession, Call: info.Call, Session: info})
}

// callCancel is the agent's Cancel of the session on a call.
func (s *Server) callCancel(login, call string) error {
	info, err := s.agentSession(login, call)
	if err != nil {
		return err
	}
	return s.cfg.Telephony.Manager.Cancel(info.ID, "cancelled by the agent")
}

// callRestart asks the caller for the current field again.
func (s *Server) callRestart(login, call string) error {
	info, err := s.agentSession(login, call)
	if err != nil {
		return err
	}
	return s.cfg.Telephony.Manager.Restart(info.ID, time.Now())
}

func (s *Server) agentSession(login, call string) (voice.SessionInfo, error) {
	if s.cfg.Telephony.Manager == nil {
		return voice.SessionInfo{}, voice.ErrUnknownCall
	}
	info, ok := s.cfg.Telephony.Manager.SessionOf(s.resolveCall(login, call))
	if !ok || info.State == voice.StateEnded {
		return info, voice.ErrUnknownSession
	}
	if info.Agent != login {
		return info, voice.ErrNotOnCall
	}
	return info, nil
}
