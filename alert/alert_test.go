package alert

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/secureinput/gateway/internal/testenv"
)

// A marked line counts by kind and reaches the webhook, signed; an
// unmarked one does neither; every line reaches the next handler.
func TestFailClosedCountsAndAlerts(t *testing.T) {
	got := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer hook.Close()
	logs := &testenv.LogBuffer{}
	h, err := New(Config{Next: slog.NewTextHandler(logs, nil), WebhookURL: hook.URL, Secret: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	log.Warn("chat: message withheld: redaction failed", slog.String(Key, "redaction"), slog.String("conversation", "c1"))
	log.With(slog.String(Key, "validation")).Warn("validation failed closed")
	log.Info("an ordinary line")
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(h.core.counts.WithLabelValues("redaction")); n != 1 {
		t.Errorf("redaction count %v, want 1", n)
	}
	if n := testutil.ToFloat64(h.core.counts.WithLabelValues("validation")); n != 1 {
		t.Errorf("validation count %v, want 1", n)
	}
	if len(got) != 2 {
		t.Fatalf("webhook got %d posts, want 2", len(got))
	}
	r, body := <-got, <-bodies
	var a Alert
	if err := json.Unmarshal(body, &a); err != nil || a.Kind != "redaction" || a.Message != "chat: message withheld: redaction failed" {
		t.Errorf("alert %s: %+v %v", body, a, err)
	}
	if strings.Contains(string(body), "c1") {
		t.Errorf("the alert carries an attribute: %s", body)
	}
	if sig := r.Header.Get(SignatureHeader); !strings.HasPrefix(sig, "sha256=") || len(sig) != 71 {
		t.Errorf("signature %q", sig)
	}
	if !strings.Contains(logs.String(), "an ordinary line") || !strings.Contains(logs.String(), "conversation=c1") {
		t.Errorf("the next handler lost lines: %s", logs)
	}
}

// A flood of failures with a webhook that does not answer stays bounded.
func TestAlertQueueIsBounded(t *testing.T) {
	block := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer hook.Close()
	defer close(block)
	h, _ := New(Config{Next: slog.DiscardHandler, WebhookURL: hook.URL, Secret: []byte("k"), Client: &http.Client{Timeout: 50 * time.Millisecond}})
	log := slog.New(h)
	for range 10 * queueSize {
		log.Error("redaction failed", slog.String(Key, "redaction"))
	}
	if d := testutil.ToFloat64(h.core.dropped); d < float64(8*queueSize) {
		t.Errorf("%v alerts dropped of %d, want most of them", d, 10*queueSize)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	h.Close(ctx) // may time out: the webhook hangs
}
