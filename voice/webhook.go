package voice

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// SignatureHeader carries the HMAC-SHA256 of a webhook's timestamp and
// body: "sha256=" followed by the hex digest of TIMESTAMP "." BODY, keyed
// with the platform's secret.
const SignatureHeader = "X-Gateway-Signature"

// TimestampHeader carries when a webhook was sent, in Unix seconds. It is
// inside the signed material, so a receiver that rejects old timestamps
// rejects replays.
const TimestampHeader = "X-Gateway-Timestamp"

// MaxWebhookAge is how far from the receiver's clock Verify accepts a
// webhook's timestamp, either way.
const MaxWebhookAge = 5 * time.Minute

// Errors of Verify.
var (
	ErrBadSignature = errors.New("voice: webhook signature does not match")
	ErrStaleWebhook = errors.New("voice: webhook timestamp is missing or more than five minutes from now (a replay?)")
)

// Sign returns the SignatureHeader value of body sent at timestamp (Unix
// seconds).
func Sign(secret []byte, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(strconv.AppendInt(nil, timestamp, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a webhook as a receiver should: signature is the
// SignatureHeader value of timestamp (the TimestampHeader value) and body,
// and the timestamp is within MaxWebhookAge of now.
func Verify(secret, body []byte, timestamp, signature string, now time.Time) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrStaleWebhook
	}
	if !hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature)) {
		return ErrBadSignature
	}
	if age := now.Sub(time.Unix(ts, 0)); age > MaxWebhookAge || age < -MaxWebhookAge {
		return ErrStaleWebhook
	}
	return nil
}

// Webhook posts instructions to the platform, signed, retrying with
// backoff. It is a Notifier.
type Webhook struct {
	URL     string
	Secret  []byte
	Client  *http.Client  // nil: a client with a 5 s timeout per try
	Retries int           // after the first try (default 4)
	Backoff time.Duration // first wait, doubled each time (default 200 ms)
	Log     *slog.Logger
	Now     func() time.Time // the clock of the timestamps (default time.Now)
}

// Notify implements Notifier. It returns nil once the platform answered
// 2xx, or the last failure when the retries are spent or ctx ended (logged,
// without any secure value: instructions carry none). Each try is signed
// with its own timestamp.
func (w *Webhook) Notify(ctx context.Context, in Instruction) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("voice: webhook %s: %w", in.Type, err)
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	now := w.Now
	if now == nil {
		now = time.Now
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
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return w.failed(in, fmt.Errorf("%w (after %v)", ctx.Err(), lastErr))
			case <-t.C:
			}
			backoff *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
		if err != nil {
			return w.failed(in, err)
		}
		ts := now().Unix()
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(TimestampHeader, strconv.FormatInt(ts, 10))
		req.Header.Set(SignatureHeader, Sign(w.Secret, ts, body))
		resp, err := client.Do(req)
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a token
		}
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return w.failed(in, lastErr)
}

// failed logs an instruction the platform did not acknowledge and returns
// why. An unconfirmed recording pause is a fail-closed event (the alert
// package's mark).
func (w *Webhook) failed(in Instruction, err error) error {
	if w.Log != nil {
		attrs := []any{slog.String("type", in.Type), slog.String("call", in.Call), slog.String("session", in.Session), slog.Any("err", err)}
		if slices.Contains(in.Actions, "pause_recording") {
			attrs = append(attrs, slog.String("fail_closed", "recording_pause"))
		}
		w.Log.Error("voice: webhook not acknowledged", attrs...)
	}
	return fmt.Errorf("webhook %s not acknowledged: %w", in.Type, err)
}
