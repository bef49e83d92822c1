package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/secureinput/gateway/alert"
	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/identity"
	"github.com/secureinput/gateway/mail"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/secure"
	"github.com/secureinput/gateway/store"
	"github.com/secureinput/gateway/voice"
	"github.com/secureinput/gateway/web"
)

// gateway is every part of the product wired from one configuration:
// newGateway builds it and listens, Run serves until its context ends and
// then stops every part and closes what newGateway opened.
type gateway struct {
	log       *slog.Logger
	listener  net.Listener
	tls       bool
	cert, key string
	http      *http.Server
	web       *web.Server
	audit     *audit.Log
	alerts    *alert.Handler
	// metricsListener and metricsHTTP serve /metrics on a listener of its
	// own (metrics.listen).
	metricsListener net.Listener
	metricsHTTP     *http.Server
	desk            *chatforms.Desk // nil without secure forms
	voice           *voice.Manager  // nil without telephony
	ingesters       []*mail.Ingester
	store           *store.Store
	keks            *kekSet
	retention       retentionDef
	cleanups        []func() error // what newGateway opened, closed in reverse

	// stop and done are set by startGateway: Close cancels Run and waits.
	stop      context.CancelFunc
	done      chan error
	closeOnce sync.Once
	closeErr  error
}

// shutdownTimeout bounds closing the websockets and HTTP connections, and
// waiting for the validation calls in flight.
const shutdownTimeout = 10 * time.Second

// voiceTick is how often the secure sessions' timeouts are checked.
const voiceTick = 200 * time.Millisecond

// sweepTick is how often sessions, waiting conversations and the limits'
// memory are swept (web.Server.Sweep); pruneTick how often the audit trail
// drops what is past its retention.
const (
	sweepTick = 5 * time.Second
	pruneTick = 24 * time.Hour
)

// Defaults of the HTTP servers' timeouts (limits.header_timeout,
// read_timeout, write_timeout): a request's headers, its whole body, its
// answer. A websocket clears them once upgraded and has its own.
const (
	defaultHeaderTimeout = 10 * time.Second
	defaultReadTimeout   = 20 * time.Second
	defaultWriteTimeout  = 30 * time.Second
	maxHeaderBytes       = 64 << 10
)

// defaultMetricsListen is where /metrics is served when metrics.listen is
// not set: loopback only.
const defaultMetricsListen = "127.0.0.1:9464"

// demoTelephonyKey is the platform key of the demo phone page.
const demoTelephonyKey = "demo-telephony-key"

// onClose pushes f onto the cleanup stack.
func (g *gateway) onClose(f func() error) { g.cleanups = append(g.cleanups, f) }

// closeAll runs the cleanup stack in reverse and returns the first error.
func (g *gateway) closeAll() error {
	var first error
	for i := len(g.cleanups) - 1; i >= 0; i-- {
		if err := g.cleanups[i](); err != nil && first == nil {
			first = err
		}
	}
	g.cleanups = nil
	return first
}

// newGateway wires store, engine, hub, secure forms, telephony, mail ingest
// and the web server, and listens. It serves nothing until Run.
func newGateway(ctx context.Context, cfg *config, logger *slog.Logger) (_ *gateway, err error) {
	g := &gateway{log: logger, tls: cfg.TLS.Cert != "", cert: cfg.TLS.Cert, key: cfg.TLS.Key, retention: cfg.Retention}
	defer func() {
		if err != nil {
			g.closeAll()
		}
	}()
	cfg.Data = cfg.dataDir()
	if err := privateDir(cfg.Data); err != nil {
		return nil, err
	}
	// Every fail-closed log line counts and alerts.
	var alertSecret []byte
	if cfg.Alerts.WebhookURL != "" {
		secret, err := readSecret(cfg.Alerts.SecretEnv, "")
		if err != nil {
			return nil, fmt.Errorf("alerts secret: %w", err)
		}
		alertSecret = []byte(secret)
	}
	g.alerts, err = alert.New(alert.Config{Next: logger.Handler(), WebhookURL: cfg.Alerts.WebhookURL, Secret: alertSecret})
	if err != nil {
		return nil, err
	}
	g.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		return g.alerts.Close(ctx)
	})
	logger = slog.New(g.alerts)
	g.log = logger
	registry := prometheus.NewRegistry()
	for _, c := range g.alerts.Collectors() {
		registry.MustRegister(c)
	}
	engine, err := redact.New(cfg.redactConfig())
	if err != nil {
		return nil, err
	}
	// One engine, one set of counters; each channel shows cards its way.
	chatDisplay, mailDisplay := cfg.displays()
	chatEngine := engine.WithDisplay(chatDisplay)
	mailEngine := engine.WithDisplay(mailDisplay)
	if g.keks, err = openKEKs(ctx, cfg, true); err != nil {
		return nil, err
	}
	g.onClose(g.keks.Close)
	sc := cfg.storeConfig(g.keks)
	sc.Logger = logger
	st, err := store.Open(ctx, sc)
	if err != nil {
		return nil, err
	}
	g.store = st
	g.onClose(st.Close)
	trail, err := audit.New(audit.Config{Store: st, Engine: engine, Retention: time.Duration(cfg.Audit.Retention), Logger: logger})
	if err != nil {
		return nil, err
	}
	g.audit = trail
	ident, err := identity.New(identity.Config{Store: st, MaxFailures: cfg.Limits.LoginFailures, Lockout: time.Duration(cfg.Limits.Lockout),
		IdleTimeout: time.Duration(cfg.Limits.SessionIdle), MaxAge: time.Duration(cfg.Limits.SessionTTL), Logger: logger})
	if err != nil {
		return nil, err
	}
	if err := ident.Bootstrap(ctx, cfg.bootstrap()); err != nil {
		return nil, err
	}
	accts, err := ident.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	cfg.useAccounts(accts)
	proxies, err := cfg.trustedProxies()
	if err != nil {
		return nil, err
	}

	// The hub tells the desk when a conversation ends, and the desk needs
	// the hub: the hook reads desk, set below before anything is served.
	var desk *chatforms.Desk
	hub, err := chat.New(chat.Config{
		Store: st, Engine: chatEngine, Services: cfg.chatServices(), Agents: cfg.chatAgents(),
		MaxMessageBytes: cfg.Limits.MessageBytes, MaxChats: cfg.Limits.MaxChatsPerAgent,
		OfferTimeout: time.Duration(cfg.Limits.OfferTimeout), WaitTimeout: time.Duration(cfg.Limits.WaitTimeout), Logger: logger,
		OnEnd: func(conversation string) {
			if desk != nil {
				desk.Forget(conversation)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	g.onClose(func() error { hub.Close(); return nil })
	if err := hub.Load(ctx); err != nil {
		return nil, err
	}

	addr := cfg.Listen
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	if g.listener, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	g.onClose(func() error { g.listener.Close(); return nil })

	pipeline, sample, err := validationPipeline(cfg, g.URL(), engine, logger)
	if err != nil {
		return nil, err
	}
	if pipeline != nil {
		fc, err := cfg.formsConfig(engine, readSecret)
		if err != nil {
			return nil, err
		}
		catalog, err := chatforms.New(fc)
		if err != nil {
			return nil, err
		}
		sites, err := siteSecrets(cfg.Sites)
		if err != nil {
			return nil, err
		}
		desk, err = chatforms.NewDesk(chatforms.DeskConfig{Catalog: catalog, Validator: pipeline, Chats: hub, Notifier: web.FormFrames{Hub: hub, Audit: trail, Logger: logger}, Logger: logger,
			Interactions: web.Interactions{Hub: hub}, SiteSecrets: sites})
		if err != nil {
			return nil, err
		}
		g.desk = desk
		g.onClose(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			return desk.Close(ctx)
		})
	}
	telephony, err := telephonyConfig(cfg, pipeline, hub, trail, logger)
	if err != nil {
		return nil, err
	}
	g.voice = telephony.Manager
	if m := g.voice; m != nil {
		g.onClose(func() error {
			// The platform hears the end of every session before we stop.
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			m.Close(ctx)
			return nil
		})
	}
	if g.ingesters, err = mailIngesters(cfg, mailEngine, st, logger); err != nil {
		return nil, err
	}

	fileLimit := openFileLimit()
	maxConns, lowered := connectionBudget(cfg.Limits.MaxConnections, fileLimit)
	if lowered {
		logger.Warn("gateway: websockets limited by the open-file limit; raise it (ulimit -n) to allow more",
			slog.Int("max_connections", maxConns), slog.Uint64("open_file_limit", fileLimit), slog.Int("reserved_files", reservedFiles))
	}
	var metricsToken string
	if cfg.Metrics.TokenEnv != "" {
		if metricsToken, err = readSecret(cfg.Metrics.TokenEnv, ""); err != nil {
			return nil, fmt.Errorf("metrics token: %w", err)
		}
	}
	g.web, err = web.New(web.Config{
		Hub: hub, Identity: ident, Audit: trail, AllowedOrigins: cfg.AllowedOrigins, TLS: g.tls, TrustedProxies: proxies,
		MaxConnections: maxConns, AgentConnections: cfg.Limits.AgentConnections, Limits: cfg.Limits.webLimits(),
		Rate: cfg.Limits.MessagesPerSecond, Burst: cfg.Limits.Burst, IdleTimeout: time.Duration(cfg.Limits.IdleTimeout),
		Logger: logger, Desk: desk, SampleService: sample, Telephony: telephony, Metrics: registry, MetricsToken: metricsToken,
	})
	if err != nil {
		return nil, err
	}
	g.http = httpServer(g.web, cfg.Limits, logger)
	if g.tls {
		g.http.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	maddr := cfg.Metrics.Listen
	if maddr == "" {
		maddr = defaultMetricsListen
	}
	if g.metricsListener, err = net.Listen("tcp", maddr); err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", maddr, err)
	}
	g.onClose(func() error { g.metricsListener.Close(); return nil })
	g.metricsHTTP = httpServer(g.web.MetricsHandler(), cfg.Limits, logger)
	return g, nil
}

// httpServer is an HTTP server for h with the limits' timeouts: a slow
// header, a slow body or a slow reader of the answer is cut off.
func httpServer(h http.Handler, l limitsConfig, logger *slog.Logger) *http.Server {
	or := func(d duration, def time.Duration) time.Duration {
		if d > 0 {
			return time.Duration(d)
		}
		return def
	}
	return &http.Server{Handler: h,
		ReadHeaderTimeout: or(l.HeaderTimeout, defaultHeaderTimeout),
		ReadTimeout:       or(l.ReadTimeout, defaultReadTimeout),
		WriteTimeout:      or(l.WriteTimeout, defaultWriteTimeout),
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
}

// MetricsURL is where /metrics is served.
func (g *gateway) MetricsURL() string {
	return "http://" + g.metricsListener.Addr().String() + "/metrics"
}

// URL is where the gateway listens, e.g. http://127.0.0.1:8080.
func (g *gateway) URL() string {
	scheme := "http"
	if g.tls {
		scheme = "https"
	}
	return scheme + "://" + g.listener.Addr().String()
}

// Run serves until ctx ends or a part fails: the HTTP server, the secure
// sessions' clock and each mailbox ingest, on one errgroup. Then it closes
// every websocket and HTTP connection, waits for the validation calls in
// flight and closes the hub and the store. It returns the first error of a
// part or of closing.
func (g *gateway) Run(ctx context.Context) error {
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		var err error
		if g.tls {
			err = g.http.ServeTLS(g.listener, g.cert, g.key)
		} else {
			err = g.http.Serve(g.listener)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("http: %w", err)
	})
	eg.Go(func() error {
		if err := g.metricsHTTP.Serve(g.metricsListener); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics http: %w", err)
		}
		return nil
	})
	eg.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		err := g.web.Shutdown(sctx)
		return errors.Join(err, g.http.Shutdown(sctx), g.metricsHTTP.Shutdown(sctx))
	})
	eg.Go(func() error {
		sweep, prune := time.NewTicker(sweepTick), time.NewTicker(pruneTick)
		defer sweep.Stop()
		defer prune.Stop()
		if err := g.audit.Prune(ctx); err != nil {
			g.log.Error("gateway: audit prune", slog.Any("err", err))
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-sweep.C:
				if err := g.web.Sweep(ctx); err != nil && ctx.Err() == nil {
					g.log.Error("gateway: sweep", slog.Any("err", err))
				}
			case <-prune.C:
				if err := g.audit.Prune(ctx); err != nil && ctx.Err() == nil {
					g.log.Error("gateway: audit prune", slog.Any("err", err))
				}
			}
		}
	})
	if m := g.voice; m != nil {
		eg.Go(func() error {
			t := time.NewTicker(voiceTick)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case now := <-t.C:
					m.Tick(now)
				}
			}
		})
	}
	for _, ing := range g.ingesters {
		eg.Go(func() error { return ing.Run(ctx) })
	}
	eg.Go(func() error { return resumeRotation(ctx, g.store, g.log) })
	if keep := time.Duration(g.retention.Transcripts); keep > 0 {
		eg.Go(func() error { return g.purgeTranscripts(ctx, keep, time.Duration(g.retention.Interval)) })
	}
	g.web.SetReady()
	g.log.Info("gateway: ready", slog.String("url", g.URL()))
	err := eg.Wait()
	return errors.Join(err, g.closeAll())
}

// startGateway builds the gateway and runs it on a goroutine until Close.
func startGateway(ctx context.Context, cfg *config, logger *slog.Logger) (*gateway, error) {
	g, err := newGateway(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	g.stop, g.done = stop, make(chan error, 1)
	go func() { g.done <- g.Run(runCtx) }()
	return g, nil
}

// Close stops a gateway started by startGateway and returns Run's error;
// a second call returns the same.
func (g *gateway) Close() error {
	g.closeOnce.Do(func() {
		g.stop()
		g.closeErr = <-g.done
	})
	return g.closeErr
}

// validationPipeline sets up the validation client and pipeline when forms
// are configured (the built-in sample service on this server when
// validation.url is empty); sample is the handler to mount for it, if any.
func validationPipeline(cfg *config, base string, engine *redact.Engine, logger *slog.Logger) (*secure.Pipeline, http.Handler, error) {
	if len(cfg.Forms) == 0 {
		return nil, nil, nil
	}
	val := cfg.Validation
	var sample http.Handler
	if val.Sample {
		sample = secure.SampleService{}
	}
	url := val.URL
	if url == "" {
		url = base + "/sample/validate"
		logger.Warn("secure forms use the built-in SAMPLE validation service: a demo, not for production")
	}
	client, err := secure.NewClient(secure.ClientConfig{URL: url, Timeout: time.Duration(val.Timeout), CADir: val.CADir,
		ClientCert: val.ClientCert, ClientKey: val.ClientKey})
	if err != nil {
		return nil, nil, err
	}
	// Details are redacted: a service echoing the card must not leak it.
	pc := secure.PipelineConfig{Client: client, Logger: logger, Details: engine}
	if cfg.Vault.configured() {
		vc, err := cfg.Vault.client(readSecret)
		if err != nil {
			return nil, nil, err
		}
		if pc.Vault, err = secure.NewVault(vc); err != nil {
			return nil, nil, fmt.Errorf("vault: %w", err)
		}
	}
	return secure.NewPipeline(pc), sample, nil
}

// telephonyConfig sets up the voice manager (the platform's API key, the
// signed webhook, limits and prompting) when telephony and forms are both
// configured; its sessions show on the agents' consoles through hub.
func telephonyConfig(cfg *config, pipeline *secure.Pipeline, hub *chat.Hub, trail *audit.Log, logger *slog.Logger) (web.TelephonyConfig, error) {
	t := cfg.Telephony
	if t == nil || pipeline == nil {
		return web.TelephonyConfig{}, nil
	}
	key := demoTelephonyKey
	if !t.Demo {
		var err error
		if key, err = readSecret(t.APIKeyEnv, t.APIKeyFile); err != nil {
			return web.TelephonyConfig{}, fmt.Errorf("telephony api key: %w", err)
		}
	} else {
		logger.Warn("telephony uses the DEMO API key of /demo/phone: a demo, not for production")
	}
	mc := voice.ManagerConfig{Pipeline: pipeline, MaxSessions: t.MaxSessions, Observer: web.CallFrames{Hub: hub, Logger: logger, Audit: trail},
		AckTimeout: time.Duration(t.WebhookTimeout),
		Prompting:  voice.Prompting{FirstDigit: time.Duration(t.FirstDigit), InterDigit: time.Duration(t.InterDigit), MaxAttempts: t.MaxAttempts}}
	if t.WebhookURL != "" {
		secret, err := readSecret(t.WebhookSecretEnv, "")
		if err != nil {
			return web.TelephonyConfig{}, fmt.Errorf("telephony webhook secret: %w", err)
		}
		mc.Notifier = &voice.Webhook{URL: t.WebhookURL, Secret: []byte(secret), Log: logger}
	} else {
		logger.Warn("telephony has no webhook_url: secure sessions collect at once, without the platform confirming that recording is paused")
	}
	return web.TelephonyConfig{Manager: voice.NewManager(mc), APIKey: key, MediaAddress: t.MediaAddress}, nil
}

// mailIngesters makes one ingest a configured mailbox.
func mailIngesters(cfg *config, engine *redact.Engine, st *store.Store, logger *slog.Logger) ([]*mail.Ingester, error) {
	redactor := &mail.Redactor{Engine: engine}
	var out []*mail.Ingester
	for _, m := range cfg.Mailboxes {
		var secretErr error
		mc := m.ingestConfig(func(a accountDef) (string, error) {
			if a.OAuth2 != nil {
				return "", nil
			}
			pw, err := readSecret(a.PasswordEnv, a.PasswordFile)
			if err != nil && secretErr == nil {
				secretErr = fmt.Errorf("mailbox %s: %w", m.Name, err)
			}
			return pw, err
		})
		if secretErr != nil {
			return nil, secretErr
		}
		for _, pair := range []struct {
			def *accountDef
			ep  *mail.Endpoint
		}{{&m.Source, &mc.Source}, {m.Destination, mc.Dest}} {
			if pair.def != nil && pair.def.OAuth2 != nil {
				ts, err := pair.def.OAuth2.tokens()
				if err != nil {
					return nil, fmt.Errorf("mailbox %s: %w", m.Name, err)
				}
				pair.ep.Tokens = ts
			}
			if pair.def != nil && pair.def.CAFile != "" {
				tc, err := tlsWithCA(pair.def.CAFile)
				if err != nil {
					return nil, fmt.Errorf("mailbox %s: %w", m.Name, err)
				}
				pair.ep.TLSConfig = tc
			}
		}
		ing, err := mail.NewIngester(mc, redactor, st, logger)
		if err != nil {
			return nil, err
		}
		out = append(out, ing)
		logger.Info("mail: ingest configured", slog.String("mailbox", m.Name))
	}
	return out, nil
}

// resumeRotation finishes, in the background while the gateway (or the
// vault) serves, a key rotation a killed `gateway keys rotate` left half
// done.
func resumeRotation(ctx context.Context, st *store.Store, log *slog.Logger) error {
	last := time.Now()
	err := st.Reseal(ctx, func(p store.Progress) {
		if time.Since(last) >= 10*time.Second || p.Finished {
			last = time.Now()
			log.Info("keys: re-encrypting under the new data key", slog.Int64("key", p.Target), slog.Int64("done", p.Done),
				slog.Int64("total", p.Total), slog.Float64("per_second", p.Rate), slog.Duration("left", p.Left))
		}
	})
	switch {
	case err == nil:
		log.Info("keys: rotation finished: every body is under the newest data key")
	case errors.Is(err, store.ErrNoRotation), ctx.Err() != nil:
	default:
		// The serving goes on: the bodies under older keys still open.
		log.Error("keys: rotation stopped", slog.Any("err", err))
	}
	return nil
}
