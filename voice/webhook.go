package voice

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// SignatureHeader carries the HMAC-SHA256 of a webhook body:
// "sha256=" followed by the hex digest, keyed with the platform's secret.
const SignatureHeader = "X-Gateway-Signature"

// Sign returns the SignatureHeader value of body.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is body's SignatureHeader value.
func Verify(secret, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

// Webhook posts instructions to the platform, signed, retrying with
// backoff. It is a Notifier.
type Webhook struct {
	URL     string
	Secret  []byte
	Client  *http.Client  // nil: a client with a 5 s timeout
	Retries int           // after the first try (default 4)
	Backoff time.Duration // first wait, doubled each time (default 200 ms)
	Log     *slog.Logger
}

// Notify implements Notifier. It returns once the platform answered 2xx or
// the retries are spent (logged, without any secure value: instructions
// carry none).
func (w *Webhook) Notify(ctx context.Context, in Instruction) {
	body, _ := json.Marshal(in)
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	retries, backoff := w.Retries, w.Backoff
	if retries <= 0 {
		retries = 4
	}
	if backoff <= 0 {
		backoff = 200 * time.Millisecond
	}
	var lastErr error
	for try := 0; try <= retries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
		if err != nil {
			lastErr = err
			break
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SignatureHeader, Sign(w.Secret, body))
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		lastErr = err
	}
	if w.Log != nil {
		attrs := []any{slog.String("type", in.Type), slog.String("call", in.Call), slog.Any("err", lastErr)}
		if slices.Contains(in.Actions, "pause_recording") {
			// The recording may still run: the platform never confirmed
			// the pause. A fail-closed event (the alert package's mark).
			attrs = append(attrs, slog.String("fail_closed", "recording_pause"))
		}
		w.Log.Error("voice: webhook not delivered", attrs...)
	}
}
