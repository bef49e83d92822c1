// Package web serves the gateway over HTTP: the embeddable widget, the
// visitor and agent websockets (docs/protocol.md), the agent console and the
// demo shop page. It is thin: it turns frames into calls on chat.Hub and the
// Hub's frames back into JSON.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/identity"
	"github.com/secureinput/gateway/internal/wsconn"
)

//go:embed static
var static embed.FS

// Defaults of Config.
const (
	DefaultMaxConnections = 50000
	DefaultRate           = 5 // frames a second per connection
	DefaultBurst          = 20
	DefaultIdleTimeout    = 30 * time.Minute
	DefaultPingInterval   = 30 * time.Second
	helloTimeout          = 10 * time.Second
)

// Config configures a Server.
type Config struct {
	Hub *chat.Hub
	// Identity signs agents in and keeps their sessions (required).
	Identity *identity.Service
	// Audit records sign-ins, lockouts, denied actions, sign-outs and
	// secure inputs (required).
	Audit Auditor
	// AllowedOrigins are the origins ("https://shop.example") whose pages
	// may embed the widget and open visitor websockets; the gateway's own
	// origin is always allowed; "*" allows any.
	AllowedOrigins []string
	// TLS says the server is reached over HTTPS: cookies get Secure and
	// responses HSTS.
	TLS bool
	// TrustedProxies are the proxies (load balancers, TLS terminators)
	// allowed to say, in X-Forwarded-For and X-Forwarded-Proto, whom they
	// forward for and whether over HTTPS; from anyone else those headers
	// are ignored.
	TrustedProxies []netip.Prefix
	// MaxConnections bounds open websockets (DefaultMaxConnections if 0).
	MaxConnections int
	// AgentConnections is the share of MaxConnections only agents may
	// use, so that visitors can never lock agents out (MaxConnections/10
	// if 0).
	AgentConnections int
	// Limits bounds what one source address may do.
	Limits Limits
	// Rate and Burst bound the frames a second one connection may send
	// (DefaultRate, DefaultBurst if 0).
	Rate  float64
	Burst int
	// IdleTimeout closes a connection whose client sent nothing for that
	// long (DefaultIdleTimeout if 0); PingInterval is how often the server
	// checks that the client is still there (DefaultPingInterval if 0).
	IdleTimeout  time.Duration
	PingInterval time.Duration
	Logger       *slog.Logger
	// Desk, if set, enables secure forms in chats and on calls.
	Desk *chatforms.Desk
	// SampleService, if set, is mounted at /sample/validate (demo only),
	// rate limited per source.
	SampleService http.Handler
	// Metrics is the registry /metrics serves; the server adds its own
	// metrics to it (a new registry if nil).
	Metrics *prometheus.Registry
	// MetricsToken, if set, serves /metrics on this handler to requests
	// that carry it as a bearer token (401 without). If empty, /metrics
	// answers 404 here: serve MetricsHandler on a listener of its own.
	MetricsToken string
	// Telephony, if its Manager is set, mounts the platform API at
	// /api/telephony/v1 (docs/telephony.md).
	Telephony TelephonyConfig
}

// Limits are the abuse limits per source address (zero: the default).
type Limits struct {
	// LoginsPerMinute and LoginBurst bound the sign-in attempts of a source
	// (DefaultLoginsPerMinute, DefaultLoginBurst).
	LoginsPerMinute float64
	LoginBurst      int
	// ConversationsPerMinute and ConversationBurst bound the conversations
	// a source opens (DefaultConversationsPerMinute, DefaultConversationBurst).
	ConversationsPerMinute float64
	ConversationBurst      int
	// SocketsPerSource bounds the visitor websockets open from one source
	// (DefaultSocketsPerSource); AgentSocketsPerSession those of one
	// console session (DefaultAgentSocketsPerSession).
	SocketsPerSource       int
	AgentSocketsPerSession int
	// SampleRate and SampleBurst bound the calls a second to the sample
	// validation service from one source (DefaultSampleRate, DefaultSampleBurst).
	SampleRate  float64
	SampleBurst int
}

func (l *Limits) defaults() {
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.LoginsPerMinute, DefaultLoginsPerMinute)
	defInt(&l.LoginBurst, DefaultLoginBurst)
	def(&l.ConversationsPerMinute, DefaultConversationsPerMinute)
	defInt(&l.ConversationBurst, DefaultConversationBurst)
	defInt(&l.SocketsPerSource, DefaultSocketsPerSource)
	defInt(&l.AgentSocketsPerSession, DefaultAgentSocketsPerSession)
	def(&l.SampleRate, DefaultSampleRate)
	defInt(&l.SampleBurst, DefaultSampleBurst)
}

// Server is the gateway's HTTP handler.
type Server struct {
	cfg      Config
	log      *slog.Logger
	hub      *chat.Hub
	router   chi.Router
	sessions *sessions
	conns    atomic.Int64 // open websockets, visitors' and agents'
	visitors atomic.Int64 // open visitor websockets

	loginLimit, openLimit, sampleLimit *sourceLimiter
	socketsBySource                    *sourceCounter[netip.Addr]
	socketsBySession                   *sourceCounter[[32]byte]

	sockets sync.WaitGroup // every websocket goroutine: read loops, writers, keep-alives, supervision
	poller  *wsconn.Poller // parks idle websockets' read loops
	ready   atomic.Bool
	// shutdownCtx ends at Shutdown: every websocket closes with 1001.
	shutdownCtx context.Context
	shutdown    context.CancelFunc
}

// New returns a Server; it answers /healthz with 503 until SetReady.
func New(cfg Config) (*Server, error) {
	if cfg.Hub == nil || cfg.Identity == nil || cfg.Audit == nil {
		return nil, errors.New("web: Config.Hub, Config.Identity and Config.Audit are required")
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.AgentConnections <= 0 {
		cfg.AgentConnections = max(cfg.MaxConnections/10, 1)
	}
	cfg.AgentConnections = min(cfg.AgentConnections, cfg.MaxConnections)
	cfg.Limits.defaults()
	for _, o := range cfg.AllowedOrigins {
		if err := CheckOrigin(o); err != nil {
			return nil, fmt.Errorf("web: Config.AllowedOrigins: %w", err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := cfg.Limits
	s := &Server{cfg: cfg, log: log, hub: cfg.Hub, sessions: newSessions(),
		loginLimit:       newSourceLimiter(l.LoginsPerMinute, l.LoginBurst),
		openLimit:        newSourceLimiter(l.ConversationsPerMinute, l.ConversationBurst),
		sampleLimit:      newSourceLimiter(l.SampleRate*60, l.SampleBurst),
		socketsBySource:  newSourceCounter[netip.Addr](l.SocketsPerSource),
		socketsBySession: newSourceCounter[[32]byte](l.AgentSocketsPerSession),
	}
	s.shutdownCtx, s.shutdown = context.WithCancel(context.Background())
	s.poller = wsconn.NewPoller(log)
	if cfg.Metrics == nil {
		s.cfg.Metrics = prometheus.NewRegistry()
	}
	if err := s.registerMetrics(s.cfg.Metrics); err != nil {
		return nil, fmt.Errorf("web: metrics: %w", err)
	}
	s.router = s.routes()
	return s, nil
}

// SetReady makes /healthz answer 200.
func (s *Server) SetReady() { s.ready.Store(true) }

// Shutdown closes every websocket (code 1001), waits, until ctx ends, for
// every goroutine of theirs to finish, and stops the poller that parks idle
// ones. Call it before http.Server.Shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdown()
	s.sessions.closeAll()
	done := make(chan struct{})
	go func() { s.sockets.Wait(); close(done) }()
	select {
	case <-done:
		return s.poller.Close()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.logRequests, s.securityHeaders)

	r.Get("/healthz", s.healthz)
	r.Get("/metrics", s.publicMetrics)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/demo/", http.StatusFound) })

	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	r.Get("/widget.js", widgetScript(files))
	r.Get("/assets/*", files.ServeHTTP)
	r.Get("/demo/*", demoPage(files))
	r.Get("/console/*", s.consolePage(files))
	r.Get("/chat/*", s.chatPage(files))

	r.Route("/api/v1", func(r chi.Router) {
		r.Post("/conversations", s.openConversation)
		r.Get("/visitor/ws", s.visitorSocket)
		r.Post("/login", s.login)
		r.Post("/logout", s.logout)
		r.Get("/me", s.me)
		r.Get("/agent/ws", s.agentSocket)
		r.Get("/cards", s.cards)
		r.Get("/services/{name}", s.serviceStatus)
		r.Get("/conversations/{id}", s.conversationInfo)
	})
	r.Get("/api/conversations/{id}", s.conversationInfo)
	if s.cfg.Telephony.Manager != nil {
		r.Route("/api/telephony/v1", s.telephonyRoutes)
	}
	if s.cfg.SampleService != nil {
		r.Post("/sample/validate", func(w http.ResponseWriter, r *http.Request) {
			if !s.sampleLimit.allow(s.sourceOf(r).addr, time.Now()) {
				tooMany(w, "the sample validation service is rate limited")
				return
			}
			s.cfg.SampleService.ServeHTTP(w, r)
		})
	}
	return r
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// chatPage serves the widget's iframe, the payment page: only the allowed
// origins may frame it.
func (s *Server) chatPage(files http.Handler) http.HandlerFunc {
	ancestors := "'self'"
	for _, o := range s.cfg.AllowedOrigins {
		ancestors += " " + o
	}
	policy := pagePolicy(ancestors, false)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", policy)
		w.Header().Del("X-Frame-Options")
		files.ServeHTTP(w, r)
	}
}

func (s *Server) consolePage(files http.Handler) http.HandlerFunc {
	policy := pagePolicy("'none'", false)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", policy)
		files.ServeHTTP(w, r)
	}
}

// demoPage serves the demo shop and phone: their styles are inline, and
// the shop frames the widget.
func demoPage(files http.Handler) http.HandlerFunc {
	policy := pagePolicy("'none'", true) + "; frame-src 'self'"
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", policy)
		files.ServeHTTP(w, r)
	}
}

// widgetScript serves the embed loader to any site: CORS and a
// cross-origin resource policy let the host page check its Subresource
// Integrity hash (integrity=… crossorigin="anonymous").
func widgetScript(files http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
		files.ServeHTTP(w, r)
	}
}

// pagePolicy is the Content-Security-Policy of the gateway's pages (PCI DSS
// 6.4.3): scripts from the gateway's origin only, never inline or
// evaluated; connections, images and styles from it only; no plugins,
// no base or form target elsewhere.
func pagePolicy(frameAncestors string, inlineStyle bool) string {
	style := "style-src 'self'"
	if inlineStyle {
		style += " 'unsafe-inline'"
	}
	return "default-src 'none'; script-src 'self'; " + style + "; img-src 'self' data:; connect-src 'self'; " +
		"base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors " + frameAncestors
}

// defaultPolicy is the Content-Security-Policy of every other answer (API
// JSON, scripts, styles): nothing may run or be framed.
const defaultPolicy = "default-src 'none'; frame-ancestors 'none'"

func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", defaultPolicy)
		if s.secureRequest(r) {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// logRequests logs the route pattern, never the URI: a card number in a
// query string must not reach the log.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		s.log.Debug("http", slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", sw.status), slog.Duration("took", time.Since(start)))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController (and the websocket upgrade) reach the
// underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// acquireConn counts a websocket against MaxConnections; a visitor's may
// not use the agents' share.
func (s *Server) acquireConn(agent bool) bool {
	if !agent && s.visitors.Add(1) > int64(s.cfg.MaxConnections-s.cfg.AgentConnections) {
		s.visitors.Add(-1)
		return false
	}
	if s.conns.Add(1) > int64(s.cfg.MaxConnections) {
		s.conns.Add(-1)
		if !agent {
			s.visitors.Add(-1)
		}
		return false
	}
	return true
}

func (s *Server) releaseConn(agent bool) {
	s.conns.Add(-1)
	if !agent {
		s.visitors.Add(-1)
	}
}

// serviceStatus serves GET /api/v1/services/{name}: what the widget shows
// before a chat starts (title, greeting) and whether anyone answers now.
func (s *Server) serviceStatus(w http.ResponseWriter, r *http.Request) {
	st, ok := s.hub.Status(chi.URLParam(r, "name"))
	if !ok {
		writeError(w, http.StatusNotFound, "unknown_service", "no such service")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"service": st.Name, "title": st.Title, "greeting": st.Greeting,
		"open": st.Open, "available": st.Open && st.Available,
	})
}

type openRequest struct {
	Service string `json:"service"`
	Visitor string `json:"visitor"` // the site's id of the visitor, for erasure (optional)
}

// openConversation serves POST /api/v1/conversations: a visitor (or a bot)
// opens a conversation over HTTP and then attaches with hello.
func (s *Server) openConversation(w http.ResponseWriter, r *http.Request) {
	if !s.openLimit.allow(s.sourceOf(r).addr, time.Now()) {
		tooMany(w, "too many conversations opened from your address; wait a minute and retry")
		return
	}
	var req openRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Service == "" {
		writeError(w, http.StatusBadRequest, "bad_request", `body must be {"service": "…"}`)
		return
	}
	id, token, err := s.hub.OpenAs(r.Context(), chat.Opening{Service: req.Service, Visitor: req.Visitor})
	if err != nil {
		code, status := errorCode(err)
		writeError(w, status, code, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"conversation": id, "token": token})
}
