package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/coder/websocket"

	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/internal/wsconn"
	"github.com/secureinput/gateway/secure"
)

// Client frame types (docs/protocol.md).
const (
	inHello   = "hello"
	inMessage = "message"
	inTyping  = "typing"
	inEnd     = "end"
	inPing    = "ping"
	inStatus  = "status"
	inAccept  = "accept"
	inLeave   = "leave"
	inHistory = "history"
)

// socket is one websocket from the upgrade to its close: the connection and
// what to undo when it ends, in reverse order, and then what to signal.
type socket struct {
	conn     *websocket.Conn
	raw      *wsconn.Conn
	cleanups []func()
	ended    func() // runs after every cleanup: Shutdown's wait
	looping  bool   // the read loop has started and ends the socket itself
}

// onEnd adds f to what runs when the socket ends.
func (so *socket) onEnd(f func()) { so.cleanups = append(so.cleanups, f) }

func (so *socket) end() {
	for i := len(so.cleanups) - 1; i >= 0; i-- {
		so.cleanups[i]()
	}
	so.cleanups = nil
	if so.ended != nil {
		so.ended()
		so.ended = nil
	}
}

// accept upgrades to a websocket, checking the origin against patterns
// (the gateway's own origin always passes) and counting the connection: a
// visitor's against its source address's cap and the visitors' share of
// the budget, an agent's (sess set) against its session's cap and the
// whole budget.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, origins []string, sess *session) (*socket, bool) {
	agent := sess != nil
	src := s.sourceOf(r).addr
	var releaseCap func()
	if agent {
		if !s.socketsBySession.acquire(sess.key) {
			tooMany(w, "too many websockets open for this session")
			return nil, false
		}
		releaseCap = func() { s.socketsBySession.release(sess.key) }
	} else {
		if !s.socketsBySource.acquire(src) {
			tooMany(w, "too many websockets open from your address")
			return nil, false
		}
		releaseCap = func() { s.socketsBySource.release(src) }
	}
	if !s.acquireConn(agent) {
		releaseCap()
		writeError(w, http.StatusServiceUnavailable, "too_many_connections", "the server is at its connection limit; retry later")
		return nil, false
	}
	release := func() { s.releaseConn(agent); releaseCap() }
	hj := &hijacker{ResponseWriter: w, poller: s.poller}
	opts := &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled}
	if slices.Contains(origins, "*") {
		opts.InsecureSkipVerify = true
	} else {
		opts.OriginPatterns = origins
	}
	conn, err := websocket.Accept(hj, r, opts)
	if err != nil {
		release()
		return nil, false
	}
	// JSON may escape each byte of a message as \u00XX.
	conn.SetReadLimit(int64(s.hub.MaxMessageBytes())*6 + 1024)
	so := &socket{conn: conn, raw: hj.conn}
	so.onEnd(release)
	return so, true
}

// hijacker hands the websocket library a wsconn.Conn with 1 KiB buffers
// instead of the 4 KiB reader and writer net/http gives every connection,
// which an idle websocket would otherwise hold for its whole life: at
// 20,000 sockets that is the largest part of the server's memory.
type hijacker struct {
	http.ResponseWriter
	poller *wsconn.Poller
	conn   *wsconn.Conn
}

// socketBuffer is the size of a websocket's read and write buffers.
const socketBuffer = 1 << 10

// Hijack implements http.Hijacker.
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	// What the client sent past the upgrade request is read first.
	// The server's read and write timeouts bound a request; a websocket
	// has its own (hello, idle, ping, slow reader).
	if err := conn.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, nil, err
	}
	pending, _ := brw.Reader.Peek(brw.Reader.Buffered())
	h.conn = h.poller.Wrap(conn, bytes.Clone(pending))
	return h.conn, bufio.NewReadWriter(bufio.NewReaderSize(h.conn, socketBuffer), bufio.NewWriterSize(h.conn, socketBuffer)), nil
}

// serveConn runs the read loop of so, handing each client frame to handle,
// until the client, the server, shutdown or ctx ends it; then it closes the
// socket with the right code and runs so's cleanups. On Linux the loop
// gives up its goroutine whenever no frame is waiting (wsconn.Conn), so
// serveConn may return before the socket ends.
func (s *Server) serveConn(ctx context.Context, so *socket, cl *client, initial []outFrame, handle func(ctx context.Context, f inFrame) error) {
	so.looping = true
	cl.release(initial)
	stopShutdown := context.AfterFunc(s.shutdownCtx, func() { cl.conn.Close(CloseGoingAway, "server shutting down") })
	so.onEnd(func() { stopShutdown() })
	so.onEnd(cl.keepAlive(s.cfg.PingInterval))
	l := &readLoop{
		s: s, ctx: ctx, so: so, cl: cl, handle: handle,
		lim:  newLimiter(s.cfg.Rate, s.cfg.Burst),
		idle: time.AfterFunc(s.cfg.IdleTimeout, func() { cl.conn.Close(CloseGoingAway, "idle timeout") }),
	}
	so.onEnd(func() { l.idle.Stop() })
	l.resume = l.run
	l.run()
}

// readLoop is a socket's read loop, resumable on a new goroutine after
// parking.
type readLoop struct {
	s      *Server
	ctx    context.Context
	so     *socket
	cl     *client
	handle func(ctx context.Context, f inFrame) error
	lim    *limiter
	idle   *time.Timer
	resume func() // run, as a func value made once
}

// run reads and handles frames until the socket ends or parks.
func (l *readLoop) run() {
	conn := l.cl.conn
	blocking := false // parking failed: wait in the read instead
	for {
		l.so.raw.SetLoopReading(!blocking)
		f, err := readFrame(l.ctx, conn)
		l.so.raw.SetLoopReading(false)
		switch {
		case errors.Is(err, wsconn.ErrWouldBlock):
			if l.so.raw.Park(l.resume) {
				return // a new goroutine runs l.run when bytes arrive
			}
			blocking = true
			continue
		case errors.Is(err, errMalformed):
			conn.Close(ClosePolicyViolation, "malformed frame")
			l.so.end()
			return
		case err != nil:
			// Closed by the client, the idle timer, shutdown or a slow
			// reader (each closed it with its own code already).
			conn.CloseNow()
			l.so.end()
			return
		}
		blocking = false
		l.idle.Reset(l.s.cfg.IdleTimeout)
		if !l.lim.allow(time.Now()) {
			fr := refusal(errRateLimited)
			fr.ClientID = echoID(f.ClientID)
			l.cl.send(echoID(f.Conversation), fr)
			continue
		}
		if err := l.handle(l.ctx, f); err != nil {
			conn.Close(ClosePolicyViolation, err.Error())
			l.so.end()
			return
		}
	}
}

var (
	errRateLimited          = errors.New("rate limited: frame dropped")
	errTooManyConversations = errors.New("rate limited: too many conversations opened from your address; wait a minute")
)

// visitorSocket serves /api/v1/visitor/ws.
func (s *Server) visitorSocket(w http.ResponseWriter, r *http.Request) {
	so, ok := s.accept(w, r, s.cfg.AllowedOrigins, nil)
	if !ok {
		return
	}
	src := s.sourceOf(r).addr
	s.detach(so, func(ctx context.Context) { s.serveVisitor(ctx, so, src) })
}

// detach runs a websocket on a goroutine of its own and lets the HTTP
// handler return, so net/http frees what it held for the request (its 4 KiB
// buffers, the request) for the socket's whole life. Shutdown waits for the
// socket to end. serve ends the socket itself once it starts the read loop
// (serveConn); if it returns before, detach ends it.
func (s *Server) detach(so *socket, serve func(ctx context.Context)) {
	s.sockets.Add(1)
	so.ended = s.sockets.Done // after the counts are released, so Shutdown sees them at zero
	go func() {
		ctx, cancel := context.WithCancel(context.Background())
		so.onEnd(cancel)
		serve(ctx)
		if !so.looping {
			so.end()
		}
	}()
}

// serveVisitor runs a visitor socket from its hello on; src is where it
// comes from, whose limit a new conversation counts against.
func (s *Server) serveVisitor(ctx context.Context, so *socket, src netip.Addr) {
	conn := so.conn
	cl := s.newClient(ctx, conn)

	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	hello, err := readFrame(hctx, conn)
	cancel()
	if err != nil || hello.Type != inHello || (hello.Conversation == "" && hello.Service == "") {
		conn.Close(ClosePolicyViolation, "expected hello")
		return
	}
	id, token := hello.Conversation, hello.Token
	fresh := id == ""
	if fresh && !s.openLimit.allow(src, time.Now()) {
		cl.write(ctx, outFrame{body: refusal(errTooManyConversations)})
		conn.Close(CloseTryAgainLater, "rate_limited")
		return
	}
	if fresh {
		id, token, err = s.hub.OpenAs(ctx, chat.Opening{Service: hello.Service, Visitor: hello.Visitor, Page: hello.Page})
		if err != nil {
			cl.write(ctx, outFrame{body: refusal(err)})
			conn.Close(ClosePolicyViolation, codeOf(err))
			return
		}
		s.identify(id, hello)
	}
	welcome, history, detach, err := s.hub.AttachVisitor(ctx, id, token, hello.Since, cl)
	if err != nil {
		cl.write(ctx, outFrame{body: refusal(err), conversation: echoID(id)})
		conn.Close(ClosePolicyViolation, codeOf(err))
		return
	}
	so.onEnd(detach)
	if fresh {
		welcome.Token = token
	}
	initial := chatFrames(append([]chat.Frame{welcome}, history...))
	if req, ok := s.waitingForm(id); ok && welcome.State != chat.StateEnded { // the open form survives a reload, not the chat's end
		initial = append(initial, outFrame{body: newFormFrame(req), conversation: id, seq: welcome.Seq})
	}
	me := chat.Participant{Role: chat.RoleVisitor}
	s.serveConn(ctx, so, cl, initial, func(ctx context.Context, f inFrame) error {
		var err error
		switch f.Type {
		case inMessage:
			err = s.hub.Send(ctx, id, me, f.ClientID, []byte(f.Text))
		case inTyping:
			err = s.hub.Typing(id, me, f.Active)
		case inEnd:
			err = s.hub.End(ctx, id, me)
		case inFormSubmit:
			err = s.submitForm(id, f.Request, f.Values)
		case inFormCancel:
			err = s.cancelForm(ctx, "", id, f.Request)
		case inPing:
		default:
			return errors.New("unknown frame type")
		}
		s.replyError(cl, err, id, f.ClientID)
		return nil
	})
}

// replyError tells the client why its frame was refused.
func (s *Server) replyError(cl *client, err error, conversation, clientID string) {
	if err == nil {
		return
	}
	fr := refusal(err)
	if errors.Is(err, chat.ErrUndeliverable) {
		fr.Type = frameUndelivered
	}
	var fe secure.FieldErrors
	if errors.As(err, &fe) {
		fr.Errors = map[string]string{}
		for _, e := range fe {
			fr.Errors[e.Field] = e.Err.Error()
		}
	}
	fr.ClientID = echoID(clientID)
	cl.send(echoID(conversation), fr)
}

// echoID is s if it is an identifier the gateway may echo (chat.ValidID),
// else "": a client id or conversation id a client made up, holding a card
// number, is refused without being sent back.
func echoID(s string) string {
	if chat.ValidID(s) {
		return s
	}
	return ""
}

// agentSocket serves /api/v1/agent/ws for a logged-in agent.
func (s *Server) agentSocket(w http.ResponseWriter, r *http.Request) {
	sess, _ := s.sessionOf(r, true)
	if sess == nil {
		writeError(w, http.StatusUnauthorized, "unauthenticated", "log in first")
		return
	}
	so, ok := s.accept(w, r, nil, sess) // the console's own origin only
	if !ok {
		return
	}
	src := s.sourceOf(r).String()
	s.detach(so, func(ctx context.Context) { s.serveAgent(ctx, so, sess, src) })
}

// serveAgent runs an agent socket until it closes or the session ends; src
// is where it comes from, for the audit trail.
func (s *Server) serveAgent(ctx context.Context, so *socket, sess *session, src string) {
	conn := so.conn
	stop := context.AfterFunc(sess.ctx, func() {
		conn.Close(ClosePolicyViolation, "session ended")
	})
	so.onEnd(func() { stop() })

	cl := s.newClient(ctx, conn)
	initial, detach, err := s.hub.AttachAgent(sess.login, cl)
	if err != nil {
		conn.Close(ClosePolicyViolation, codeOf(err))
		return
	}
	so.onEnd(detach)
	login := sess.login
	me := chat.Participant{Role: chat.RoleAgent, Login: login}
	stopSupervision := func() {}
	so.onEnd(func() { stopSupervision() })
	s.log.Info("web: agent connected", slog.String("agent", login))
	s.serveConn(ctx, so, cl, chatFrames(initial), func(ctx context.Context, f inFrame) error {
		if f.Type != inPing { // the console's keep-alive is not the agent's doing
			s.cfg.Identity.Touch(sess.key)
		}
		var err error
		switch f.Type {
		case inStatus:
			if f.Status != "available" && f.Status != "away" {
				err = errBadStatus
				break
			}
			err = s.hub.SetAvailable(login, f.Status == "available")
		case inAccept:
			err = s.hub.Accept(ctx, f.Conversation, login)
		case inMessage:
			err = s.hub.Send(ctx, f.Conversation, me, f.ClientID, []byte(f.Text))
		case inTyping:
			err = s.hub.Typing(f.Conversation, me, f.Active)
		case inEnd:
			err = s.hub.End(ctx, f.Conversation, me)
		case inLeave:
			err = s.hub.Leave(ctx, f.Conversation, login)
		case inSupervise:
			stopSupervision()
			stopSupervision = func() {}
			if stop, serr := s.supervise(ctx, cl, login, f.Workgroup); serr != nil {
				err = serr
			} else {
				stopSupervision = stop
			}
		case inForms:
			err = s.agentForms(cl, login, f.Conversation)
		case inCalls:
			if s.cfg.Telephony.Manager != nil {
				s.sendCalls(login)
			}
		case inCallForms:
			err = s.agentCallForms(cl, login, f.Call)
		case inCallFormPrepare:
			err = s.callFormPrepare(ctx, cl, login, f)
		case inCallSecureInput:
			err = s.callSecureInput(ctx, login, f)
		case inCallCancel:
			err = s.callCancel(login, f.Call)
		case inCallRestart:
			err = s.callRestart(login, f.Call)
		case inFormPrepare:
			err = s.prepareForm(ctx, cl, login, f.Conversation, f.Form, f.Fields)
		case inFormRequest:
			err = s.requestForm(ctx, login, f.Conversation, f.Form, f.Fields)
		case inFormRetry:
			err = s.retryForm(ctx, login, f.Conversation, f.Request)
		case inFormCancel:
			err = s.cancelForm(ctx, login, f.Conversation, f.Request)
		case inHistory:
			var frames []chat.Frame
			frames, err = s.hub.History(ctx, f.Conversation, login, f.Since)
			cl.deliverAll(frames)
			if err == nil {
				cl.send(f.Conversation, historyEndFrame{Type: frameHistoryEnd})
			}
		case inPing:
		default:
			return errors.New("unknown frame type")
		}
		s.auditDenied(ctx, login, src, f, err)
		s.replyError(cl, err, f.Conversation, f.ClientID)
		return nil
	})
}

// deniedCodes are the error codes of an action an agent was not allowed.
var deniedCodes = []string{"forbidden", "no_secure_input", "no_initiate_secure_input", "no_workgroup_access", "form_not_for_service", "not_on_call"}

// auditDenied records an agent's action that was refused for want of a
// right.
func (s *Server) auditDenied(ctx context.Context, login, src string, f inFrame, err error) {
	if err == nil {
		return
	}
	code := codeOf(err)
	if !slices.Contains(deniedCodes, code) {
		return
	}
	target := "conversation " + f.Conversation
	if f.Call != "" {
		target = "call " + f.Call
	}
	s.cfg.Audit.Record(ctx, audit.Event{Actor: login, Action: audit.ActionDenied, Outcome: audit.Denied, Source: src,
		Target: target, Detail: f.Type + ": " + code})
}

var errBadStatus = errors.New(`status must be "available" or "away"`)
