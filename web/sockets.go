package web

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/coder/websocket"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
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

// accept upgrades to a websocket, checking the origin against patterns
// (the gateway's own origin always passes) and counting the connection.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, origins []string) (*websocket.Conn, bool) {
	if !s.acquireConn() {
		writeError(w, http.StatusServiceUnavailable, "too_many_connections", "the server is at its connection limit; retry later")
		return nil, false
	}
	opts := &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled}
	if slices.Contains(origins, "*") {
		opts.InsecureSkipVerify = true
	} else {
		opts.OriginPatterns = origins
	}
	conn, err := websocket.Accept(smallBuffers{w}, r, opts)
	if err != nil {
		s.releaseConn()
		return nil, false
	}
	// JSON may escape each byte of a message as \u00XX.
	conn.SetReadLimit(int64(s.hub.MaxMessageBytes())*6 + 1024)
	return conn, true
}

// smallBuffers hands the websocket library 1 KiB buffers instead of the 4 KiB
// reader and writer net/http gives every connection, which an idle
// websocket would otherwise hold for its whole life: at 20,000 sockets that
// is the largest part of the server's memory.
type smallBuffers struct{ http.ResponseWriter }

// socketBuffer is the size of a websocket's read and write buffers.
const socketBuffer = 1 << 10

func (s smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	r := brw.Reader
	if r.Buffered() == 0 { // else keep what the client already sent
		r = bufio.NewReaderSize(conn, socketBuffer)
	}
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, bufio.NewReadWriter(r, bufio.NewWriterSize(conn, socketBuffer)), nil
}

// serveConn runs cl's writer and the read loop handle until either ends, the
// server shuts down or ctx ends, then closes the socket with the right code.
func (s *Server) serveConn(ctx context.Context, cl *client, initial []chat.Frame, handle func(ctx context.Context, f inFrame) error) {
	cl.release(initial)
	stopShutdown := context.AfterFunc(s.shutdownCtx, func() { cl.conn.Close(CloseGoingAway, "server shutting down") })
	defer stopShutdown()
	stopPings := cl.keepAlive(s.cfg.PingInterval)
	defer stopPings()
	idle := time.AfterFunc(s.cfg.IdleTimeout, func() { cl.conn.Close(CloseGoingAway, "idle timeout") })
	defer idle.Stop()

	lim := newLimiter(s.cfg.Rate, s.cfg.Burst)
	for {
		f, err := readFrame(ctx, cl.conn)
		switch {
		case errors.Is(err, errMalformed):
			cl.conn.Close(ClosePolicyViolation, "malformed frame")
			return
		case err != nil:
			// Closed by the client, the idle timer, shutdown or a slow
			// reader (each closed it with its own code already).
			cl.conn.CloseNow()
			return
		}
		idle.Reset(s.cfg.IdleTimeout)
		if !lim.allow(time.Now()) {
			fr := errorFrame(errRateLimited, f.Conversation)
			fr.ClientID = f.ClientID
			cl.Deliver(fr)
			continue
		}
		if err := handle(ctx, f); err != nil {
			cl.conn.Close(ClosePolicyViolation, err.Error())
			return
		}
	}
}

var errRateLimited = errors.New("rate limited: frame dropped")

// visitorSocket serves /api/v1/visitor/ws.
func (s *Server) visitorSocket(w http.ResponseWriter, r *http.Request) {
	conn, ok := s.accept(w, r, s.cfg.AllowedOrigins)
	if !ok {
		return
	}
	s.detach(func(ctx context.Context) { s.serveVisitor(ctx, conn) })
}

// detach runs a websocket on a goroutine of its own and lets the HTTP
// handler return, so net/http frees what it held for the request (its 4 KiB
// buffers, the request) for the socket's whole life. Shutdown waits for it.
func (s *Server) detach(serve func(ctx context.Context)) {
	s.sockets.Add(1)
	go func() {
		defer s.sockets.Done()
		defer s.releaseConn()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		serve(ctx)
	}()
}

// serveVisitor runs a visitor socket from its hello on.
func (s *Server) serveVisitor(ctx context.Context, conn *websocket.Conn) {
	cl := newClient(ctx, conn)

	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	hello, err := readFrame(hctx, conn)
	cancel()
	if err != nil || hello.Type != inHello || (hello.Conversation == "" && hello.Service == "") {
		conn.Close(ClosePolicyViolation, "expected hello")
		return
	}
	id, token := hello.Conversation, hello.Token
	fresh := id == ""
	if fresh {
		id, token, err = s.hub.Open(ctx, hello.Service)
		if err != nil {
			cl.write(ctx, errorFrame(err, ""))
			conn.Close(ClosePolicyViolation, chat.Code(err))
			return
		}
	}
	welcome, history, detach, err := s.hub.AttachVisitor(ctx, id, token, hello.Since, cl)
	if err != nil {
		cl.write(ctx, errorFrame(err, id))
		conn.Close(ClosePolicyViolation, chat.Code(err))
		return
	}
	defer detach()
	if fresh {
		welcome.Token = token
	}
	initial := append([]chat.Frame{welcome}, history...)
	if req, ok := s.tracker.Current(id); ok && req.State == chatforms.StateWaiting {
		fr := s.formFrame(req)
		fr.Conversation, fr.Seq = id, welcome.Seq
		initial = append(initial, fr) // the open form survives a reload
	}
	me := chat.Participant{Role: chat.RoleVisitor}
	s.serveConn(ctx, cl, initial, func(ctx context.Context, f inFrame) error {
		var err error
		switch f.Type {
		case inMessage:
			err = s.hub.Send(ctx, id, me, f.ClientID, []byte(f.Text))
		case inTyping:
			err = s.hub.Typing(id, me, f.Active)
		case inEnd:
			if err = s.hub.End(ctx, id, me); err == nil {
				s.tracker.Forget(id)
			}
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
	fr := errorFrame(err, conversation)
	if errors.Is(err, chat.ErrUndeliverable) {
		fr.Type = chat.FrameUndelivered
	}
	var fe secure.FieldErrors
	if errors.As(err, &fe) {
		fr.Errors = map[string]string{}
		for _, e := range fe {
			fr.Errors[e.Field] = e.Err.Error()
		}
	}
	fr.ClientID = clientID
	cl.Deliver(fr)
}

// agentSocket serves /api/v1/agent/ws for a logged-in agent.
func (s *Server) agentSocket(w http.ResponseWriter, r *http.Request) {
	sess := s.sessionOf(r)
	if sess == nil {
		writeError(w, http.StatusUnauthorized, "unauthenticated", "log in first")
		return
	}
	conn, ok := s.accept(w, r, nil) // the console's own origin only
	if !ok {
		return
	}
	s.detach(func(ctx context.Context) { s.serveAgent(ctx, conn, sess) })
}

// serveAgent runs an agent socket until it closes or the session ends.
func (s *Server) serveAgent(ctx context.Context, conn *websocket.Conn, sess *session) {
	stop := context.AfterFunc(sess.ctx, func() {
		conn.Close(ClosePolicyViolation, "session ended")
	})
	defer stop()

	cl := newClient(ctx, conn)
	initial, detach, err := s.hub.AttachAgent(sess.login, cl)
	if err != nil {
		conn.Close(ClosePolicyViolation, chat.Code(err))
		return
	}
	defer detach()
	login := sess.login
	me := chat.Participant{Role: chat.RoleAgent, Login: login}
	stopSupervision := func() {}
	defer func() { stopSupervision() }()
	s.log.Info("web: agent connected", slog.String("agent", login))
	s.serveConn(ctx, cl, initial, func(ctx context.Context, f inFrame) error {
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
			if err = s.hub.End(ctx, f.Conversation, me); err == nil {
				s.tracker.Forget(f.Conversation)
			}
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
		case inCallSecureInput:
			err = s.callSecureInput(ctx, login, f)
		case inCallCancel:
			err = s.callCancel(ctx, login, f.Call)
		case inCallRestart:
			err = s.callRestart(login, f.Call)
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
		case inPing:
		default:
			return errors.New("unknown frame type")
		}
		s.replyError(cl, err, f.Conversation, f.ClientID)
		return nil
	})
}

var errBadStatus = errors.New(`status must be "available" or "away"`)
