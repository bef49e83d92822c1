// Package alert turns fail-closed events into metrics and alerts (PCI DSS
// 10.7.2): redaction that could not finish, a validation that failed
// closed, an IVR instruction (pausing the recording) the platform did not
// confirm, an audit record that could not be written.
//
// The packages that fail closed already log it; they mark the log line
// with the attribute Key ("fail_closed") whose value names the kind, and
// import nothing. Handler, an slog.Handler that cmd/gateway puts in front
// of the log's own, counts each marked line in
// gateway_fail_closed_total{kind} and, if a webhook is configured, posts
// the kind and the message (a constant of the code: never a text, an id or
// a value) to it, signed, from one goroutine with a bounded queue.
package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Key is the log attribute that marks a fail-closed event; its value is
// the kind: "redaction", "validation", "recording_pause", "audit", "mail".
const Key = "fail_closed"

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body,
// keyed with Config.Secret.
const SignatureHeader = "X-Gateway-Signature"

// queueSize bounds the alerts waiting to be posted; past it they are
// dropped (and counted): a flood of failures must not grow memory.
const queueSize = 256

// Config configures a Handler.
type Config struct {
	// Next receives every record (required).
	Next slog.Handler
	// WebhookURL, if set, receives a POST for each fail-closed event.
	WebhookURL string
	// Secret signs the webhook's body (required with WebhookURL).
	Secret []byte
	// Client posts the webhook (a client with a 5 s timeout if nil).
	Client *http.Client
}

// Alert is the JSON body the webhook receives.
type Alert struct {
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

// Handler is the slog.Handler that counts and alerts; its handlers made by
// WithAttrs and WithGroup share its counts and queue.
type Handler struct {
	next  slog.Handler
	core  *core
	bound string // a kind bound by WithAttrs
}

type core struct {
	cfg     Config
	counts  *prometheus.CounterVec
	dropped prometheus.Counter
	done    chan struct{}

	mu     sync.Mutex // guards queue's closing
	queue  chan Alert
	closed bool
}

// New returns a Handler; with a webhook, its poster runs until Close.
func New(cfg Config) (*Handler, error) {
	if cfg.Next == nil {
		return nil, errors.New("alert: Config.Next is required")
	}
	if cfg.WebhookURL != "" && len(cfg.Secret) == 0 {
		return nil, errors.New("alert: Config.Secret is required with a webhook")
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
	}
	c := &core{cfg: cfg,
		counts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_fail_closed_total",
			Help: "Events that failed closed (withheld, refused, error outcome), by kind."}, []string{"kind"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_alerts_dropped_total",
			Help: "Fail-closed alerts not posted to the webhook: its queue was full."}),
		done: make(chan struct{}),
	}
	for _, k := range []string{"redaction", "validation", "recording_pause", "audit", "mail"} {
		c.counts.WithLabelValues(k) // present at 0 from the start
	}
	if cfg.WebhookURL != "" {
		c.queue = make(chan Alert, queueSize)
		go c.post()
	} else {
		close(c.done)
	}
	return &Handler{next: cfg.Next, core: c}, nil
}

// Collectors are the handler's metrics, to register with the registry
// /metrics serves.
func (h *Handler) Collectors() []prometheus.Collector {
	return []prometheus.Collector{h.core.counts, h.core.dropped}
}

// Close stops the poster after the alerts queued; ctx bounds the wait.
func (h *Handler) Close(ctx context.Context) error {
	c := h.core
	c.mu.Lock()
	if !c.closed && c.queue != nil {
		close(c.queue)
	}
	c.closed = true
	c.mu.Unlock()
	select {
	case <-h.core.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Enabled implements slog.Handler: warnings and errors always reach
// Handle, so that a fail-closed line counts even when the log drops it.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	kind := h.bound
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == Key {
			kind = a.Value.String()
			return false
		}
		return true
	})
	if kind != "" {
		h.core.counts.WithLabelValues(kind).Inc()
		h.core.enqueue(Alert{Kind: kind, Message: r.Message, Time: r.Time})
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := &Handler{next: h.next.WithAttrs(attrs), core: h.core, bound: h.bound}
	for _, a := range attrs {
		if a.Key == Key {
			out.bound = a.Value.String()
		}
	}
	return out
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), core: h.core, bound: h.bound}
}

func (c *core) enqueue(a Alert) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queue == nil || c.closed {
		return
	}
	select {
	case c.queue <- a:
	default:
		c.dropped.Inc()
	}
}

// post sends the queued alerts, each tried three times.
func (c *core) post() {
	defer close(c.done)
	for a := range c.queue {
		body, _ := json.Marshal(a)
		mac := hmac.New(sha256.New, c.cfg.Secret)
		mac.Write(body)
		sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		for try := range 3 {
			if try > 0 {
				time.Sleep(time.Duration(try) * 200 * time.Millisecond)
			}
			req, err := http.NewRequest(http.MethodPost, c.cfg.WebhookURL, bytes.NewReader(body))
			if err != nil {
				break
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(SignatureHeader, sig)
			resp, err := c.cfg.Client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					break
				}
			}
		}
	}
}
