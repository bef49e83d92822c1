// Command chatload measures the chat gateway under load on loopback. It
// starts `gateway serve` with a generated configuration (one agent per
// conversation, spread over workgroups), opens N visitor and N agent
// websockets, lets every agent accept one chat, then has the visitors send
// messages at a set total rate and measures, for each message, the time from
// the visitor's send to the agent's receipt. It prints throughput, latency
// percentiles and the server's resident memory per open conversation.
//
//	go build -o bin/gateway ./cmd/gateway
//	go run ./cmd/chatload -gateway bin/gateway -conversations 9850 -rate 5000 -duration 20s
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/bcrypt"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "chatload:", err)
		os.Exit(1)
	}
}

type options struct {
	gateway       string
	conversations int
	perGroup      int
	rate          float64
	duration      time.Duration
	dial          int
	serverLog     string
	durability    string
}

func run() error {
	var o options
	flag.StringVar(&o.gateway, "gateway", "bin/gateway", "gateway `binary` to start")
	flag.IntVar(&o.conversations, "conversations", 1000, "concurrent conversations (one visitor and one agent socket each)")
	flag.IntVar(&o.perGroup, "agents-per-workgroup", 100, "agents (and conversations) per workgroup")
	flag.Float64Var(&o.rate, "rate", 500, "messages a second, all visitors together")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long to send")
	flag.IntVar(&o.dial, "dial-parallel", 64, "sockets opened in parallel")
	flag.StringVar(&o.serverLog, "server-log", "", "write the gateway's stderr to `file`")
	flag.StringVar(&o.durability, "durability", "power_loss", "the gateway's durability `setting`: power_loss or process_crash")
	flag.Parse()
	raiseFileLimit(2*o.conversations + 512) // each process holds one socket per conversation per side

	dir, err := os.MkdirTemp("", "chatload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "load.yaml")
	if err := writeConfig(cfgPath, o); err != nil {
		return err
	}
	cmd := exec.Command(o.gateway, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if o.serverLog != "" {
		f, err := os.Create(o.serverLog)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", o.gateway, err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	base, metricsURL, err := readURL(stdout)
	if err != nil {
		return err
	}
	wsBase := "ws" + strings.TrimPrefix(base, "http")
	pid := cmd.Process.Pid
	time.Sleep(500 * time.Millisecond)
	rssIdle := rss(pid)
	liveIdle := liveMemory(metricsURL)
	fmt.Printf("gateway %s (pid %d), idle RSS %.1f MiB\n", base, pid, float64(rssIdle)/(1<<20))

	ctx := context.Background()
	lat := &latencies{}
	agents := make([]*agentConn, o.conversations)
	start := time.Now()
	if err := parallel(o.conversations, o.dial, func(i int) error {
		a, err := connectAgent(ctx, base, wsBase, fmt.Sprintf("a%d", i), lat)
		agents[i] = a
		return err
	}); err != nil {
		return fmt.Errorf("agents: %w", err)
	}
	fmt.Printf("%d agents logged in and connected in %v\n", o.conversations, time.Since(start).Round(time.Millisecond))

	visitors := make([]*websocket.Conn, o.conversations)
	start = time.Now()
	if err := parallel(o.conversations, o.dial, func(i int) error {
		v, err := connectVisitor(ctx, wsBase, fmt.Sprintf("s%d", i/o.perGroup))
		visitors[i] = v
		return err
	}); err != nil {
		return fmt.Errorf("visitors: %w", err)
	}
	// Wait until every chat is accepted.
	deadline := time.Now().Add(2 * time.Minute)
	for accepted.Load() < int64(o.conversations) {
		if time.Now().After(deadline) {
			var seen []string
			codes.Range(func(k, _ any) bool { seen = append(seen, k.(string)); return true })
			return fmt.Errorf("only %d of %d chats accepted (error codes the agents got: %v)", accepted.Load(), o.conversations, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("%d conversations open and accepted in %v\n", o.conversations, time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second)
	rssOpen := rss(pid)
	perConv := float64(rssOpen-rssIdle) / float64(o.conversations)
	fmt.Printf("server RSS with %d open conversations (%d sockets): %.1f MiB; %.1f KiB per conversation\n",
		o.conversations, 2*o.conversations, float64(rssOpen)/(1<<20), perConv/1024)

	// Send at the set total rate, round robin over the visitors.
	total := int(o.rate * o.duration.Seconds())
	interval := time.Duration(float64(time.Second) / o.rate)
	fmt.Printf("sending %d messages at %.0f/s for %v\n", total, o.rate, o.duration)
	var sendErrs atomic.Int64
	var wg sync.WaitGroup
	cpuStart, selfStart := cpuTime(pid), selfCPUTime()
	storeStart := readMetrics(metricsURL)
	sendStart := time.Now()
	senders := 8
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := s; k < total; k += senders {
				due := sendStart.Add(time.Duration(k) * interval)
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				v := visitors[k%o.conversations]
				msg := fmt.Sprintf(`{"type":"message","client_id":"%d","text":"hello, order %d, card 4111 1111 1111 1111"}`, time.Now().UnixNano(), k)
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if err := v.Write(wctx, websocket.MessageText, []byte(msg)); err != nil {
					sendErrs.Add(1)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	sendDur := time.Since(sendStart)
	drain := time.Now().Add(10 * time.Second)
	for lat.count() < total && time.Now().Before(drain) {
		time.Sleep(50 * time.Millisecond)
	}
	waited := time.Since(sendStart)
	recvDur := waited
	if last := lat.lastArrival(); !last.IsZero() {
		recvDur = last.Sub(sendStart) // to the last delivery, not the end of the wait for missing ones
	}
	cpu, self := cpuTime(pid)-cpuStart, selfCPUTime()-selfStart
	n := lat.count()
	p50, p99, maxL := lat.percentiles()
	fmt.Printf("delivered %d of %d messages (%d send errors, %d refused by the server) in %v: %.0f messages/s\n",
		n, total, sendErrs.Load(), refused.Load(), recvDur.Round(time.Millisecond), float64(n)/recvDur.Seconds())
	fmt.Printf("latency visitor send → agent receive: p50 %v  p99 %v  max %v (sending took %v)\n",
		p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), maxL.Round(10*time.Microsecond), sendDur.Round(time.Millisecond))
	fmt.Printf("CPU while sending: server %.1f s (%.0f µs per message), load tool %.1f s, of %.0f s on %d cores\n",
		cpu.Seconds(), float64(cpu.Microseconds())/float64(max(n, 1)), self.Seconds(), waited.Seconds(), runtime.NumCPU())
	storeEnd := readMetrics(metricsURL)
	commits := storeEnd["gateway_store_commits_total"] - storeStart["gateway_store_commits_total"]
	writes := storeEnd["gateway_store_writes_total"] - storeStart["gateway_store_writes_total"]
	fmt.Printf("store: %d writes in %d commits (%.1f a commit), %.0f commits/s\n",
		writes, commits, float64(writes)/float64(max(commits, 1)), float64(commits)/waited.Seconds())
	codes.Range(func(k, _ any) bool { fmt.Printf("server error code seen: %v\n", k); return true })
	fmt.Printf("server RSS at the end: %.1f MiB\n", float64(rss(pid))/(1<<20))
	live := liveMemory(metricsURL)
	fmt.Printf("server live heap + stacks at the end (/metrics): %.1f MiB; %.1f KiB per conversation\n",
		float64(live)/(1<<20), float64(live-liveIdle)/float64(o.conversations)/1024)
	if leaked.Load() > 0 {
		return fmt.Errorf("%d agent frames held the planted card number", leaked.Load())
	}
	return nil
}

var (
	accepted atomic.Int64
	refused  atomic.Int64
	leaked   atomic.Int64
	codes    sync.Map // error codes the server sent
)

func writeConfig(path string, o options) error {
	hash, _ := bcrypt.GenerateFromPassword([]byte("load"), bcrypt.MinCost)
	var b strings.Builder
	groups := (o.conversations + o.perGroup - 1) / o.perGroup
	fmt.Fprintf(&b, "durability: %s\n", o.durability)
	fmt.Fprintf(&b, "limits:\n  max_connections: %d\n  max_chats_per_agent: 1\n  messages_per_second: 50\n  burst: 50\n", 2*o.conversations+100)
	// Every client of a load test is on loopback: the per-source limits
	// (a normal site's defaults) are set for the load, and the agents'
	// reserved share holds them all (agents may use any free slot; the
	// share only keeps visitors out of it).
	n := o.conversations + 100
	fmt.Fprintf(&b, "  agent_connections: %d\n  sockets_per_source: %d\n  logins_per_minute: %d\n  login_burst: %d\n  conversations_per_minute: %d\n  conversation_burst: %d\n",
		o.conversations+10, n, 60*n, n, 60*n, n)
	b.WriteString("metrics:\n  listen: \"127.0.0.1:0\"\n")
	b.WriteString("workgroups:\n")
	for g := range groups {
		fmt.Fprintf(&b, "  - name: g%d\n", g)
	}
	b.WriteString("services:\n")
	for g := range groups {
		fmt.Fprintf(&b, "  - {name: s%d, workgroup: g%d}\n", g, g)
	}
	b.WriteString("agents:\n")
	for i := range o.conversations {
		fmt.Fprintf(&b, "  - {login: a%d, password_hash: %q, workgroups: [g%d]}\n", i, hash, i/o.perGroup)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// readURL reads the gateway's start-up lines: its URL and where its
// /metrics listener is.
func readURL(r io.Reader) (base, metrics string, err error) {
	sc := bufio.NewScanner(r)
	re := regexp.MustCompile(`running on (http://\S+)`)
	mre := regexp.MustCompile(`metrics: +(http://\S+)`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
		}
		if m := mre.FindStringSubmatch(sc.Text()); m != nil && base != "" {
			go io.Copy(io.Discard, r)
			return base, m[1], nil
		}
	}
	return "", "", errors.New("the gateway printed no URL and metrics URL (see its stderr)")
}

type frame struct {
	Type         string `json:"type"`
	Conversation string `json:"conversation"`
	ClientID     string `json:"client_id"`
	From         string `json:"from"`
	Text         string `json:"text"`
	Code         string `json:"code"`
}

type agentConn struct{ conn *websocket.Conn }

func connectAgent(ctx context.Context, base, wsBase, login string, lat *latencies) (*agentConn, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := hc.Post(base+"/api/v1/login", "application/json", strings.NewReader(`{"login":"`+login+`","password":"load"}`))
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("login %s: %s", login, resp.Status)
	}
	h := http.Header{}
	for _, c := range resp.Cookies() {
		h.Add("Cookie", c.Name+"="+c.Value)
	}
	conn, _, err := websocket.Dial(ctx, wsBase+"/api/v1/agent/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	conn.Write(ctx, websocket.MessageText, []byte(`{"type":"status","status":"available"}`))
	a := &agentConn{conn: conn}
	go func() {
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			now := time.Now()
			var f frame
			json.Unmarshal(data, &f)
			switch f.Type {
			case "offer":
				conn.Write(ctx, websocket.MessageText, []byte(`{"type":"accept","conversation":"`+f.Conversation+`"}`))
			case "agent_joined":
				accepted.Add(1)
			case "message":
				if strings.Contains(f.Text, "4111 1111") {
					leaked.Add(1)
				}
				if sent, err := strconv.ParseInt(f.ClientID, 10, 64); err == nil && f.From == "visitor" {
					lat.add(time.Unix(0, sent), now)
				}
			case "error":
				refused.Add(1)
				codes.Store(f.Code, true)
			}
		}
	}()
	return a, nil
}

func connectVisitor(ctx context.Context, wsBase, service string) (*websocket.Conn, error) {
	conn, _, err := websocket.Dial(ctx, wsBase+"/api/v1/visitor/ws", nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","service":"`+service+`"}`)); err != nil {
		return nil, err
	}
	go func() {
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			if !bytes.Contains(data, []byte(`"error"`)) {
				continue // acks and typing: decoding them all would load the load tool
			}
			var f frame
			if json.Unmarshal(data, &f) == nil && f.Type == "error" {
				refused.Add(1)
				codes.Store(f.Code, true)
			}
		}
	}()
	return conn, nil
}

// parallel runs f(0..n-1) with at most width at once; the first error wins.
func parallel(n, width int, f func(i int) error) error {
	var wg sync.WaitGroup
	var first error
	var mu sync.Mutex
	next := atomic.Int64{}
	for range width {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("#%d: %w", i, err)
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

type latencies struct {
	mu   sync.Mutex
	d    []time.Duration
	last time.Time // when the latest message arrived
}

// add records a message sent at sent and received at arrived.
func (l *latencies) add(sent, arrived time.Time) {
	l.mu.Lock()
	l.d = append(l.d, arrived.Sub(sent))
	l.last = arrived
	l.mu.Unlock()
}

// lastArrival returns when the latest message arrived.
func (l *latencies) lastArrival() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

func (l *latencies) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

func (l *latencies) percentiles() (p50, p99, maxD time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)*99/100], s[len(s)-1]
}

// readMetrics reads the server's /metrics (Prometheus text) into a map.
func readMetrics(url string) map[string]int64 {
	m := map[string]int64{}
	resp, err := http.Get(url)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if name, v, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			f, _ := strconv.ParseFloat(v, 64) // the exposition format may write 1.7e+07
			m[name] = int64(f)
		}
	}
	return m
}

// liveMemory returns the heap live at the server's last garbage collection
// plus its goroutine stacks.
func liveMemory(metricsURL string) int64 {
	m := readMetrics(metricsURL)
	return m["go_heap_live_bytes"] + m["go_stack_bytes"]
}

// cpuTime returns the user plus system CPU time a process has used.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th, in clock ticks (100 a second on Linux).
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// selfCPUTime returns the CPU time this process has used.
func selfCPUTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss returns the resident memory of a process, in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// raiseFileLimit lifts the open-file limit (the gateway inherits it); as
// root the hard limit may be raised too.
func raiseFileLimit(want int) {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return
	}
	if lim.Cur >= uint64(want) {
		return
	}
	if lim.Max < uint64(want) {
		lim.Max = uint64(want)
	}
	lim.Cur = uint64(want)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintf(os.Stderr, "chatload: cannot raise the open-file limit to %d: %v\n", want, err)
	}
}
