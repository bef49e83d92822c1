package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/mail"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/secure"
	"github.com/secureinput/gateway/store"
	"github.com/secureinput/gateway/voice"
	"github.com/secureinput/gateway/web"
)

const serveUsage = `usage: gateway serve [flags]

Runs the gateway: widget, visitor and agent websockets, agent console, demo
page. With no --config it runs the embedded demo configuration.

`

// runServe is `gateway serve`.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configFile := fs.String("config", "", "YAML configuration `file` (default: the embedded demo configuration)")
	listen := fs.String("listen", "", "listen `address` host:port (overrides the file's listen)")
	data := fs.String("data", "", "data `directory` for the SQLite store (overrides the file's data)")
	cert := fs.String("tls-cert", "", "TLS certificate `file` (overrides tls.cert)")
	key := fs.String("tls-key", "", "TLS key `file` (overrides tls.key)")
	verbose := fs.Bool("v", false, "log every HTTP request (route pattern, status, duration; never the URL)")
	if err := parseFlags(fs, args, stdout, serveUsage); err != nil {
		return err
	}
	cfg, err := loadConfig(*configFile)
	if err != nil {
		return usageError{err.Error()}
	}
	for _, o := range []struct {
		flag string
		dst  *string
	}{{*listen, &cfg.Listen}, {*data, &cfg.Data}, {*cert, &cfg.TLS.Cert}, {*key, &cfg.TLS.Key}} {
		if o.flag != "" {
			*o.dst = o.flag
		}
	}
	if (cfg.TLS.Cert == "") != (cfg.TLS.Key == "") {
		return usagef("set both --tls-cert and --tls-key, or neither")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	g, err := startGateway(ctx, cfg, logger)
	if err != nil {
		return err
	}
	base := g.URL()
	fmt.Fprintf(stdout, "Secure Input Gateway is running on %s\n", base)
	fmt.Fprintf(stdout, "  demo shop page: %s/demo/\n", base)
	fmt.Fprintf(stdout, "  agent console:  %s/console/\n", base)
	if cfg.Telephony != nil && cfg.Telephony.Demo {
		fmt.Fprintf(stdout, "  demo phone:     %s/demo/phone/\n", base)
	}
	if *configFile == "" {
		fmt.Fprintf(stdout, "  demo agent:     login demo, password demo\n")
	}
	fmt.Fprintf(stdout, "  data:           %s\n", cfg.Data)
	<-ctx.Done()
	fmt.Fprintln(stdout, "shutting down")
	return g.Close()
}

// gateway is a running server, as the tests start it.
type gateway struct {
	listener net.Listener
	http     *http.Server
	web      *web.Server
	hub      *chat.Hub
	store    *store.Store
	tls      bool
	served   chan error
	stopMail context.CancelFunc
	mailDone sync.WaitGroup
	stopTick chan struct{}
	tickDone sync.WaitGroup
}

// startVoiceTicker checks the secure sessions' timeouts every 200 ms until
// Close.
func (g *gateway) startVoiceTicker(m *voice.Manager) {
	g.stopTick = make(chan struct{})
	g.tickDone.Add(1)
	go func() {
		defer g.tickDone.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-g.stopTick:
				return
			case now := <-t.C:
				m.Tick(context.Background(), now)
			}
		}
	}()
}

// demoTelephonyKey is the platform key of the demo phone page.
const demoTelephonyKey = "demo-telephony-key"

// configureTelephony sets up the voice manager: the platform's API key, the
// signed webhook, limits and prompting.
func configureTelephony(cfg *config, wc *web.Config, logger *slog.Logger) error {
	t := cfg.Telephony
	if t == nil || wc.Pipeline == nil {
		return nil
	}
	key := demoTelephonyKey
	if !t.Demo {
		var err error
		if key, err = readSecret(t.APIKeyEnv, t.APIKeyFile); err != nil {
			return fmt.Errorf("telephony api key: %w", err)
		}
	} else {
		logger.Warn("telephony uses the DEMO API key of /demo/phone: a demo, not for production")
	}
	mc := voice.ManagerConfig{Pipeline: wc.Pipeline, MaxSessions: t.MaxSessions,
		Prompting: voice.Prompting{FirstDigit: time.Duration(t.FirstDigit), InterDigit: time.Duration(t.InterDigit), MaxAttempts: t.MaxAttempts}}
	if t.WebhookURL != "" {
		secret, err := readSecret(t.WebhookSecretEnv, "")
		if err != nil {
			return fmt.Errorf("telephony webhook secret: %w", err)
		}
		mc.Notifier = &voice.Webhook{URL: t.WebhookURL, Secret: []byte(secret), Log: logger}
	}
	wc.Telephony = web.TelephonyConfig{Manager: voice.NewManager(mc), APIKey: key, MediaAddress: t.MediaAddress}
	return nil
}

// URL is where the gateway listens, e.g. http://127.0.0.1:8080.
func (g *gateway) URL() string {
	scheme := "http"
	if g.tls {
		scheme = "https"
	}
	return scheme + "://" + g.listener.Addr().String()
}

// startGateway wires store, engine, hub and web server and starts serving.
func startGateway(ctx context.Context, cfg *config, logger *slog.Logger) (*gateway, error) {
	if cfg.Data == "" {
		cfg.Data = "./data"
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	engine, err := redact.New(cfg.redactConfig())
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, store.Config{Path: filepath.Join(cfg.Data, "gateway.db"), Durability: durabilities[cfg.Durability], Logger: logger})
	if err != nil {
		return nil, err
	}
	var services []chat.Service
	for _, s := range cfg.Services {
		services = append(services, chat.Service{Name: s.Name, Title: s.Title, Workgroup: s.Workgroup})
	}
	var agents []chat.Agent
	creds := map[string]web.Credential{}
	for _, a := range cfg.Agents {
		name := a.Name
		if name == "" {
			name = a.Login
		}
		agents = append(agents, chat.Agent{Login: a.Login, Name: name, Workgroups: a.Workgroups})
		creds[a.Login] = web.Credential{PasswordHash: a.PasswordHash}
	}
	hub, err := chat.New(chat.Config{
		Store: st, Engine: engine, Services: services, Agents: agents,
		MaxMessageBytes: cfg.Limits.MessageBytes, MaxChats: cfg.Limits.MaxChatsPerAgent,
		OfferTimeout: time.Duration(cfg.Limits.OfferTimeout), Logger: logger,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := hub.Load(ctx); err != nil {
		st.Close()
		return nil, err
	}
	addr := cfg.Listen
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		hub.Close()
		st.Close()
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	tlsOn := cfg.TLS.Cert != ""
	fileLimit := openFileLimit()
	maxConns, lowered := connectionBudget(cfg.Limits.MaxConnections, fileLimit)
	if lowered {
		logger.Warn("gateway: websockets limited by the open-file limit; raise it (ulimit -n) to allow more",
			slog.Int("max_connections", maxConns), slog.Uint64("open_file_limit", fileLimit), slog.Int("reserved_files", reservedFiles))
	}
	webCfg := web.Config{
		Hub: hub, Agents: creds, AllowedOrigins: cfg.AllowedOrigins, TLS: tlsOn,
		MaxConnections: maxConns, Rate: cfg.Limits.MessagesPerSecond, Burst: cfg.Limits.Burst,
		IdleTimeout: time.Duration(cfg.Limits.IdleTimeout), SessionTTL: time.Duration(cfg.Limits.SessionTTL),
		Logger: logger,
	}
	if err := configureForms(cfg, &webCfg, ln.Addr().String(), tlsOn, engine, logger); err != nil {
		ln.Close()
		hub.Close()
		st.Close()
		return nil, err
	}
	if err := configureTelephony(cfg, &webCfg, logger); err != nil {
		ln.Close()
		hub.Close()
		st.Close()
		return nil, err
	}
	ws, err := web.New(webCfg)
	if err != nil {
		ln.Close()
		hub.Close()
		st.Close()
		return nil, err
	}
	if m := webCfg.Telephony.Manager; m != nil {
		m.SetObserver(ws.Observer())
	}
	g := &gateway{listener: ln, web: ws, hub: hub, store: st, tls: tlsOn, served: make(chan error, 1),
		http: &http.Server{Handler: ws, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: httpIdleTimeout, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}}
	go func() {
		var err error
		if g.tls {
			err = g.http.ServeTLS(ln, cfg.TLS.Cert, cfg.TLS.Key)
		} else {
			err = g.http.Serve(ln)
		}
		g.served <- err
	}()
	if m := webCfg.Telephony.Manager; m != nil {
		g.startVoiceTicker(m)
	}
	if err := g.startMail(cfg, engine, logger); err != nil {
		g.Close()
		return nil, err
	}
	ws.SetReady()
	logger.Info("gateway: ready", slog.String("url", g.URL()))
	return g, nil
}

// startMail starts one ingest a configured mailbox; they stop at Close.
func (g *gateway) startMail(cfg *config, engine *redact.Engine, logger *slog.Logger) error {
	ctx, cancel := context.WithCancel(context.Background())
	g.stopMail = cancel
	redactor := &mail.Redactor{Engine: engine}
	for _, m := range cfg.Mailboxes {
		var secretErr error
		mc := m.ingestConfig(func(a accountDef) (string, error) {
			pw, err := readSecret(a.PasswordEnv, a.PasswordFile)
			if err != nil && secretErr == nil {
				secretErr = fmt.Errorf("mailbox %s: %w", m.Name, err)
			}
			return pw, err
		})
		if secretErr != nil {
			return secretErr
		}
		for _, pair := range []struct {
			def *accountDef
			ep  *mail.Endpoint
		}{{&m.Source, &mc.Source}, {m.Destination, mc.Dest}} {
			if pair.def != nil && pair.def.CAFile != "" {
				tc, err := tlsWithCA(pair.def.CAFile)
				if err != nil {
					return fmt.Errorf("mailbox %s: %w", m.Name, err)
				}
				pair.ep.TLSConfig = tc
			}
		}
		ing, err := mail.NewIngester(mc, redactor, g.store, logger)
		if err != nil {
			return err
		}
		g.mailDone.Add(1)
		go func() {
			defer g.mailDone.Done()
			ing.Run(ctx)
		}()
		logger.Info("mail: ingest started", slog.String("mailbox", m.Name))
	}
	return nil
}

// readSecret reads a secret from the environment variable env or, if env is
// empty, from file.
func readSecret(env, file string) (string, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// tlsWithCA trusts the PEM certificates of file.
func tlsWithCA(file string) (*tls.Config, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate", file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// configureForms sets up secure forms: the catalog, the validation client
// (the built-in sample service on this server when validation.url is empty
// and sample is true) and the pipeline.
func configureForms(cfg *config, wc *web.Config, addr string, tlsOn bool, engine *redact.Engine, logger *slog.Logger) error {
	if len(cfg.Forms) == 0 {
		return nil
	}
	catalog, err := chatforms.New(cfg.formsConfig())
	if err != nil {
		return err
	}
	val := cfg.Validation
	if val.Sample {
		wc.SampleService = secure.SampleService{}
	}
	url := val.URL
	if url == "" {
		scheme := "http"
		if tlsOn {
			scheme = "https"
		}
		url = scheme + "://" + addr + "/sample/validate"
		logger.Warn("secure forms use the built-in SAMPLE validation service: a demo, not for production")
	}
	client, err := secure.NewClient(secure.ClientConfig{URL: url, Timeout: time.Duration(val.Timeout), CADir: val.CADir,
		ClientCert: val.ClientCert, ClientKey: val.ClientKey})
	if err != nil {
		return err
	}
	wc.Forms, wc.Pipeline = catalog, secure.NewPipeline(client, logger)
	wc.Pipeline.RedactDetails(engine) // a service echoing the card must not leak it
	return nil
}

// Close stops accepting, closes every websocket, stops the mail ingest,
// waits for handlers, and closes the store after its pending writes.
func (g *gateway) Close() error {
	if g.stopTick != nil {
		close(g.stopTick)
		g.tickDone.Wait()
	}
	if g.stopMail != nil {
		g.stopMail()
		g.mailDone.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := g.web.Shutdown(ctx)
	if herr := g.http.Shutdown(ctx); err == nil {
		err = herr
	}
	if serr := <-g.served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	g.hub.Close()
	if cerr := g.store.Close(); err == nil {
		err = cerr
	}
	return err
}
