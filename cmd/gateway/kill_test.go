package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/secureinput/gateway/internal/testenv"
)

type wireFrame struct {
	Type         string `json:"type"`
	Seq          int64  `json:"seq"`
	Conversation string `json:"conversation"`
	Token        string `json:"token"`
	ClientID     string `json:"client_id"`
	Text         string `json:"text"`
}

// TestSIGKILLLosesNoAcknowledgedMessage kills the server in the middle of a
// stream of messages; every message acknowledged before the kill is in the
// transcript after a restart, with either durability setting.
func TestSIGKILLLosesNoAcknowledgedMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	for _, durability := range []string{"power_loss", "process_crash"} {
		t.Run(durability, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "gateway.yaml")
			if err := os.WriteFile(cfg, append(slices.Clone(demoConfig), "\ndurability: "+durability+"\n"...), 0o600); err != nil {
				t.Fatal(err)
			}
			sigkillMidStream(t, dir, "--config", cfg)
		})
	}
}

// sigkillMidStream sends messages to a gateway started with flags, kills it
// with SIGKILL after 40 acknowledgements, restarts it and checks that every
// acknowledged message is in the transcript.
func sigkillMidStream(t *testing.T, dir string, flags ...string) {
	bin := testenv.GatewayBinary(t)
	data := filepath.Join(dir, "data")
	cmd, url := testenv.StartGateway(t, bin, data, flags...)
	wsURL := "ws" + url[len("http"):] + "/api/v1/visitor/ws"

	ctx := context.Background()
	conn, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	write := func(v any) error {
		b, _ := json.Marshal(v)
		return conn.Write(ctx, websocket.MessageText, b)
	}
	write(map[string]any{"type": "hello", "service": "support"})
	var welcome wireFrame
	_, b, _ := conn.Read(ctx)
	json.Unmarshal(b, &welcome)
	if welcome.Token == "" {
		t.Fatalf("welcome = %s", b)
	}

	var mu sync.Mutex
	acked := map[string]bool{}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var f wireFrame
			json.Unmarshal(b, &f)
			if f.Type == "message" && f.ClientID != "" {
				mu.Lock()
				acked[f.ClientID] = true
				n := len(acked)
				mu.Unlock()
				if n == 40 {
					cmd.Process.Signal(syscall.SIGKILL)
				}
			}
		}
	}()
	// The demo allows 5 frames a second with a burst of 20 per connection:
	// send steadily until the server dies.
	for i := 0; ; i++ {
		if err := write(map[string]any{"type": "message", "client_id": fmt.Sprintf("m%d", i), "text": fmt.Sprintf("message %d", i)}); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
		if i > 2000 {
			t.Fatal("the server was never killed")
		}
	}
	<-readDone
	cmd.Wait()
	mu.Lock()
	if len(acked) < 40 {
		t.Fatalf("only %d messages acknowledged before the kill", len(acked))
	}
	mu.Unlock()

	_, url = testenv.StartGateway(t, bin, data, flags...)
	wsURL = "ws" + url[len("http"):] + "/api/v1/visitor/ws"
	conn2, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.CloseNow()
	b, _ = json.Marshal(map[string]any{"type": "hello", "conversation": welcome.Conversation, "token": welcome.Token, "since": 0})
	conn2.Write(ctx, websocket.MessageText, b)
	_, b, err = conn2.Read(ctx)
	var w2 wireFrame
	json.Unmarshal(b, &w2)
	if err != nil || w2.Type != "welcome" {
		t.Fatalf("resume after restart: %s %v", b, err)
	}
	stored := map[string]bool{}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for seq := int64(0); seq < w2.Seq; {
		_, b, err := conn2.Read(rctx)
		if err != nil {
			t.Fatalf("reading history: %v", err)
		}
		var f wireFrame
		json.Unmarshal(b, &f)
		seq = f.Seq
		if f.Type == "message" {
			stored[f.ClientID] = true
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range acked {
		if !stored[id] {
			t.Errorf("message %s was acknowledged but is gone after SIGKILL", id)
		}
	}
	t.Logf("%d acknowledged, %d stored after the kill", len(acked), len(stored))
	if _, err := os.Stat(filepath.Join(data, "gateway.db")); err != nil {
		t.Error(err)
	}
}
