package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/secureinput/gateway/web"

	"github.com/secureinput/gateway/internal/testenv"
)

func TestConnectionBudget(t *testing.T) {
	for _, c := range []struct {
		configured int
		limit      uint64
		want       int
		lowered    bool
	}{
		{0, 0, web.DefaultMaxConnections, false}, // limit unknown: the default
		{100, 0, 100, false},                     // limit unknown: as configured
		{0, 1 << 20, web.DefaultMaxConnections, false},
		{1000, 20000, 1000, false},                  // fits
		{20000, 20000, 20000 - reservedFiles, true}, // leaves the reserve
		{0, 20000, 20000 - reservedFiles, true},     // the default too
		{20000 - reservedFiles, 20000, 20000 - reservedFiles, false},
		{10, 100, 1, true}, // a limit below the reserve still admits one
	} {
		got, lowered := connectionBudget(c.configured, c.limit)
		if got != c.want || lowered != c.lowered {
			t.Errorf("connectionBudget(%d, %d) = %d, %v; want %d, %v", c.configured, c.limit, got, lowered, c.want, c.lowered)
		}
	}
}

// TestFullHouseLeavesFilesForTheStore runs the gateway under a low
// open-file limit and fills it with websockets: the one past the budget is
// refused with 503, and the store can still open a conversation and store
// a message. Without the budget the sockets take every file and SQLite
// fails with "unable to open database file".
func TestFullHouseLeavesFilesForTheStore(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses prlimit(1)")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prlimit (util-linux) is missing")
		}
		t.Skip("prlimit (util-linux) is missing")
	}
	const limit = 400
	budget := limit - reservedFiles
	// The demo, with the per-source limits out of the way: every socket
	// here comes from loopback.
	cfgFile := filepath.Join(t.TempDir(), "full.yaml")
	cfg := strings.NewReplacer("  sockets_per_source: 50", "  sockets_per_source: 100000",
		"  conversations_per_minute: 20", "  conversations_per_minute: 100000\n  conversation_burst: 100000",
		"  max_connections: 50000", "  max_connections: 50000\n  agent_connections: 1").Replace(string(demoConfig))
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prlimit, "--nofile=400:400", testenv.GatewayBinary(t), "serve", "--config", cfgFile, "--listen", "127.0.0.1:0", "--data", t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	warned := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "limited by the open-file limit") {
				warned <- sc.Text()
			}
		}
	}()
	base := testenv.RunUntilURL(t, cmd)
	select {
	case line := <-warned:
		if !strings.Contains(line, "max_connections=144") || !strings.Contains(line, "open_file_limit=400") {
			t.Errorf("warning = %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Error("no warning that the open-file limit lowered max_connections")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/visitor/ws"
	hello := func(conn *websocket.Conn) {
		t.Helper()
		if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","service":"support"}`)); err != nil {
			t.Fatal(err)
		}
		_, b, err := conn.Read(ctx)
		if err != nil || !strings.Contains(string(b), `"welcome"`) {
			t.Fatalf("after hello: %s, %v", b, err)
		}
	}
	// Visitors get the budget but the one socket reserved for agents.
	visitors := budget - 1
	conns := make([]*websocket.Conn, visitors)
	for i := range conns {
		conn, _, err := websocket.Dial(ctx, wsURL, nil)
		if err != nil {
			t.Fatalf("websocket %d of %d: %v", i+1, visitors, err)
		}
		defer conn.CloseNow()
		hello(conn)
		conns[i] = conn
	}
	_, resp, err := websocket.Dial(ctx, wsURL, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("websocket past the budget: %v, %v; want 503", resp, err)
	}

	// The store still has its files: a new conversation over HTTP, and a
	// message acknowledged on a socket of the full house.
	r, err := http.Post(base+"/api/v1/conversations", "application/json", strings.NewReader(`{"service":"support"}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("open conversation with a full house: %s", r.Status)
	}
	last := conns[len(conns)-1]
	if err := last.Write(ctx, websocket.MessageText, []byte(`{"type":"message","client_id":"m1","text":"still here"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := last.Read(ctx)
		if err != nil {
			t.Fatalf("no acknowledgement: %v", errors.Join(err, ctx.Err()))
		}
		var f wireFrame
		json.Unmarshal(b, &f)
		if f.Type == "error" {
			t.Fatalf("message refused: %s", b)
		}
		if f.Type == "message" && f.ClientID == "m1" {
			break
		}
	}
}

// TestIdleKeepAliveConnectionsClose checks that a keep-alive HTTP
// connection that carries no further request is closed by the server, so
// idle clients do not hold open files.
func TestIdleKeepAliveConnectionsClose(t *testing.T) {
	defer func(d time.Duration) { httpIdleTimeout = d }(httpIdleTimeout)
	httpIdleTimeout = 300 * time.Millisecond
	cfg, _ := loadConfig("")
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	g, err := startGateway(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("healthz: %s, close %v; want 200 on a kept-alive connection", resp.Status, resp.Close)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle keep-alive connection: read %v, want EOF (closed by the server)", err)
	}
}
