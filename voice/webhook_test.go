package voice

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWebhookTimestampAndReplay: each webhook carries its timestamp inside
// the signed material; a receiver that verifies it rejects a replay older
// than five minutes, and a timestamp moved forward breaks the signature.
func TestWebhookTimestampAndReplay(t *testing.T) {
	secret := []byte("webhook-secret")
	sent := time.Unix(1764620000, 0)
	type capture struct {
		body           []byte
		stamp, signing string
	}
	got := make(chan capture, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [4096]byte
		n, _ := r.Body.Read(b[:])
		got <- capture{b[:n:n], r.Header.Get(TimestampHeader), r.Header.Get(SignatureHeader)}
	}))
	defer srv.Close()
	w := &Webhook{URL: srv.URL, Secret: secret, Now: func() time.Time { return sent }}
	if err := w.Notify(context.Background(), Instruction{Type: "secure_session_begin", Call: "c1", Session: "S1"}); err != nil {
		t.Fatal(err)
	}
	c := <-got
	if c.stamp != strconv.FormatInt(sent.Unix(), 10) {
		t.Fatalf("%s = %q, want %d", TimestampHeader, c.stamp, sent.Unix())
	}
	if want := Sign(secret, sent.Unix(), c.body); c.signing != want {
		t.Fatalf("signature %q, want %q (over TIMESTAMP.BODY)", c.signing, want)
	}
	for _, tc := range []struct {
		name      string
		body      []byte
		stamp     string
		now       time.Time
		want      error
		wantValid bool
	}{
		{"fresh", c.body, c.stamp, sent.Add(time.Second), nil, true},
		{"4 min later", c.body, c.stamp, sent.Add(4 * time.Minute), nil, true},
		{"replayed 6 min later", c.body, c.stamp, sent.Add(6 * time.Minute), ErrStaleWebhook, false},
		{"replayed with a new timestamp", c.body, strconv.FormatInt(sent.Add(6*time.Minute).Unix(), 10), sent.Add(6 * time.Minute), ErrBadSignature, false},
		{"from the future", c.body, c.stamp, sent.Add(-6 * time.Minute), ErrStaleWebhook, false},
		{"no timestamp", c.body, "", sent, ErrStaleWebhook, false},
		{"body changed", append([]byte(nil), append(c.body[:len(c.body)-1:len(c.body)-1], ' ')...), c.stamp, sent, ErrBadSignature, false},
	} {
		err := Verify(secret, tc.body, tc.stamp, c.signing, tc.now)
		if (err == nil) != tc.wantValid || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// The signature of a body alone (the old scheme) is not accepted.
	if err := Verify(secret, c.body, c.stamp, oldSign(secret, c.body), sent); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a signature without the timestamp: %v", err)
	}
}

// oldSign is the signature over the body only, without the timestamp.
func oldSign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// TestWebhookGivesUp: Notify reports a receiver that never acknowledges,
// within its context.
func TestWebhookGivesUp(t *testing.T) {
	tries := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries++
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	w := &Webhook{URL: srv.URL, Secret: []byte("s"), Backoff: time.Millisecond}
	err := w.Notify(context.Background(), Instruction{Type: "secure_session_begin"})
	if err == nil || tries != 5 || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("after %d tries: %v", tries, err)
	}
}
