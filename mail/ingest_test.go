package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/keys"
	"github.com/secureinput/gateway/store"
)

func endpoint(s *testenv.IMAPServer, user string) Endpoint {
	return Endpoint{Addr: s.Addr, TLS: TLSPlain, Username: user, Password: s.Users[user]}
}

func client(t testing.TB, s *testenv.IMAPServer, user string) *imapclient.Client {
	t.Helper()
	c, err := dial(context.Background(), endpoint(s, user), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// appendMsg puts a message into a folder as a mail server would deliver it.
func appendMsg(t testing.TB, c *imapclient.Client, folder string, msg []byte, flags []imap.Flag, date time.Time) {
	t.Helper()
	ensureFolder(c, folder)
	app := c.Append(folder, int64(len(msg)), &imap.AppendOptions{Flags: flags, Time: date})
	app.Write(msg)
	app.Close()
	if _, err := app.Wait(); err != nil {
		t.Fatalf("append: %v", err)
	}
}

type stored struct {
	body  []byte
	flags []imap.Flag
	date  time.Time
}

// folder lists the messages of a folder.
func folder(t *testing.T, c *imapclient.Client, name string) []stored {
	t.Helper()
	if err := ensureFolder(c, name); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select(name, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for _, m := range msgs {
		out = append(out, stored{body: m.BodySection[0].Bytes, flags: m.Flags, date: m.InternalDate})
	}
	return out
}

func newIngester(t *testing.T, cfg MailboxConfig) (*Ingester, *store.Store, *testenv.LogBuffer) {
	t.Helper()
	st := testenv.Store(t, store.Config{KEK: testKEK})
	logs := &testenv.LogBuffer{}
	g, err := NewIngester(cfg, newRedactor(t), st, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return g, st, logs
}

func TestIngestRedactsAndDeliversToAnotherAccount(t *testing.T) {
	srv := testenv.StartIMAP(t, "alice", "bob")
	alice, bob := client(t, srv, "alice"), client(t, srv, "bob")
	manifest := loadManifest(t)
	date := time.Date(2026, 10, 1, 8, 30, 0, 0, time.UTC)
	good, degraded := 0, 0
	var planted []string
	for name, m := range manifest {
		src, _ := os.ReadFile(filepath.Join("testdata/corpus", name+".eml"))
		flags := []imap.Flag{imap.FlagSeen}
		if name == "plain-7bit" {
			flags = append(flags, imap.FlagFlagged)
		}
		appendMsg(t, alice, "INBOX", src, flags, date)
		good++
		if m.Degraded {
			degraded++
		}
		planted = append(planted, m.Planted...)
	}
	dest := endpoint(srv, "bob")
	g, _, logs := newIngester(t, MailboxConfig{Name: "support", Source: endpoint(srv, "alice"), Dest: &dest,
		DestFolder: "Redacted", After: "move", MoveTo: "Processed"})
	var progress []Progress
	g.OnProgress = func(p Progress) { progress = append(progress, p) }
	if _, err := g.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}

	delivered := folder(t, bob, "Redacted")
	if len(delivered) != good {
		t.Fatalf("%d messages delivered, want %d", len(delivered), good)
	}
	tags := map[string]bool{}
	degradedCopies := 0
	for _, m := range delivered {
		tag := tagOf(m.body)
		if tag == "" || tags[tag] {
			t.Errorf("copy without a unique %s header: %q", SourceHeader, tag)
		}
		tags[tag] = true
		parts, err := decodeAll(m.body, "0")
		if err != nil {
			t.Errorf("a delivered copy does not parse: %v", err)
			continue
		}
		for _, p := range parts {
			if l := leaks(p.text+"\n"+strings.Join(p.headers, "\n"), planted); len(l) > 0 {
				t.Errorf("a delivered copy holds %q", l)
			}
			for _, h := range p.headers {
				if strings.HasPrefix(h, DegradedHeader+": ") {
					degradedCopies++
				}
			}
		}
		if !m.date.Equal(date) {
			t.Errorf("internal date %v, want %v", m.date, date)
		}
		if !hasFlag(m.flags, imap.FlagSeen) {
			t.Errorf("flags %v lost \\Seen", m.flags)
		}
	}
	flagged := 0
	for _, m := range delivered {
		if hasFlag(m.flags, imap.FlagFlagged) {
			flagged++
		}
	}
	if flagged != 1 {
		t.Errorf("%d copies flagged, want 1", flagged)
	}
	if originals := folder(t, alice, "Processed"); len(originals) != good {
		t.Errorf("%d originals moved, want %d", len(originals), good)
	}
	if degradedCopies != degraded {
		t.Errorf("%d degraded copies, want %d", degradedCopies, degraded)
	}
	if left := folder(t, alice, "INBOX"); len(left) != 0 {
		t.Fatalf("%d messages left in the source, want none", len(left))
	}
	if !strings.Contains(logs.String(), "degraded copy") || strings.Contains(logs.String(), "4111") {
		t.Errorf("log: %s", logs.String())
	}
	if n := len(progress); n == 0 || progress[n-1].Done != good || progress[n-1].Total != good {
		t.Errorf("progress %+v", progress)
	}
	// A second pass does nothing.
	if _, err := g.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(folder(t, bob, "Redacted")); n != good {
		t.Errorf("after a second pass %d copies, want %d", n, good)
	}
}

// TestIngestFlagsUnparsableWhenConfigured: with unparsable: flag, a message
// that cannot be read stays in the source, flagged, and is not tried again.
func TestIngestFlagsUnparsableWhenConfigured(t *testing.T) {
	srv := testenv.StartIMAP(t, "alice")
	alice := client(t, srv, "alice")
	deep, err := os.ReadFile("testdata/corpus/too-deep.eml")
	if err != nil {
		t.Fatal(err)
	}
	appendMsg(t, alice, "INBOX", deep, nil, time.Now())
	appendMsg(t, alice, "INBOX", []byte("Subject: ok\r\n\r\n4111 1111 1111 1111\r\n"), nil, time.Now())
	g, _, logs := newIngester(t, MailboxConfig{Name: "flag", Source: endpoint(srv, "alice"), DestFolder: "Clean",
		After: "delete", Unparsable: UnparsableFlag})
	for range 2 {
		if _, err := g.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(folder(t, alice, "Clean")); n != 1 {
		t.Errorf("%d copies, want 1", n)
	}
	left := folder(t, alice, "INBOX")
	if len(left) != 1 || !hasFlag(left[0].flags, imap.Flag(DefaultFailedKeyword)) {
		t.Fatalf("source holds %d messages (%v), want the unreadable one flagged", len(left), left)
	}
	if !strings.Contains(logs.String(), "message not delivered") || strings.Contains(logs.String(), "4111") {
		t.Errorf("log: %s", logs.String())
	}
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, x := range flags {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

func TestIngestDeleteModeAndResumeAfterCrash(t *testing.T) {
	srv := testenv.StartIMAP(t, "alice")
	alice := client(t, srv, "alice")
	msg := []byte("From: a@example.com\r\nSubject: pay\r\n\r\ncard 4111 1111 1111 1111\r\n")
	appendMsg(t, alice, "INBOX", msg, nil, time.Now())
	appendMsg(t, alice, "INBOX", msg, nil, time.Now())
	g, st, _ := newIngester(t, MailboxConfig{Name: "box", Source: endpoint(srv, "alice"), DestFolder: "Clean", After: "delete"})

	// Simulate a crash after the first message's APPEND was confirmed but
	// before its original was removed: the copy is there, the store says
	// pending.
	sel, _ := alice.Select("INBOX", nil).Wait()
	tag := fmt.Sprintf("box/%d/1", sel.UIDValidity)
	redacted, _, _ := newRedactor(t).Redact(msg)
	appendMsg(t, alice, "Clean", append([]byte(SourceHeader+": "+tag+"\r\n"), redacted...), nil, time.Now())
	st.Write(context.Background(), "test", func(tx *store.Tx) error {
		return tx.SetMailState(store.MailState{Mailbox: "box", UIDValidity: sel.UIDValidity, PendingUID: 1})
	})

	if _, err := g.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	clean := folder(t, alice, "Clean")
	if len(clean) != 2 {
		t.Fatalf("%d copies, want 2 (the one delivered before the crash is not delivered again)", len(clean))
	}
	if tagOf(clean[0].body) == tagOf(clean[1].body) {
		t.Error("two copies of one message")
	}
	if left := folder(t, alice, "INBOX"); len(left) != 0 {
		t.Errorf("%d originals left after delete", len(left))
	}
	state, _ := st.MailState(context.Background(), "box")
	if state.LastUID != 2 || state.PendingUID != 0 {
		t.Errorf("state %+v", state)
	}
}

func TestIngestIdlePicksUpNewMail(t *testing.T) {
	srv := testenv.StartIMAP(t, "alice")
	alice := client(t, srv, "alice")
	g, _, _ := newIngester(t, MailboxConfig{Name: "idle", Source: endpoint(srv, "alice"), DestFolder: "Clean",
		After: "move", MoveTo: "Done", Poll: time.Hour}) // only IDLE can be in time
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()

	time.Sleep(500 * time.Millisecond) // let it reach IDLE on an empty folder
	appendMsg(t, alice, "INBOX", []byte("Subject: new\r\n\r\n5555 5555 5555 4444\r\n"), nil, time.Now())
	deadline := time.Now().Add(20 * time.Second)
	for {
		if clean := folder(t, alice, "Clean"); len(clean) == 1 {
			if strings.Contains(string(clean[0].body), "5555") {
				t.Error("the copy holds the card")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("new mail was not picked up although the ingest was idling (poll interval one hour)")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestEndpointChecks(t *testing.T) {
	r := &Redactor{}
	for name, cfg := range map[string]MailboxConfig{
		"plain to a remote host": {Name: "x", Source: Endpoint{Addr: "mail.example.com:143", TLS: TLSPlain}, DestFolder: "C", After: "delete"},
		"bad tls":                {Name: "x", Source: Endpoint{Addr: "127.0.0.1:143", TLS: "ssl"}, DestFolder: "C", After: "delete"},
		"no dest":                {Name: "x", Source: Endpoint{Addr: "127.0.0.1:143", TLS: TLSPlain}, After: "delete"},
		"move without folder":    {Name: "x", Source: Endpoint{Addr: "127.0.0.1:143", TLS: TLSPlain}, DestFolder: "C", After: "move"},
		"dest is source":         {Name: "x", Source: Endpoint{Addr: "127.0.0.1:143", TLS: TLSPlain}, DestFolder: "INBOX", After: "delete"},
	} {
		if _, err := NewIngester(cfg, r, nil, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// passthrough delivers messages as they are: the baseline of BenchmarkIngest.
type passthrough struct{}

func (passthrough) Redact(src []byte) ([]byte, Report, error) { return src, Report{}, nil }

func (passthrough) Degrade(src []byte, _ string) ([]byte, Report, error) { return src, Report{}, nil }

// BenchmarkIngest measures messages/s through a real Dovecot, with
// redaction and with a plain fetch-and-append (compare the two msgs/s). It
// stays on Dovecot whatever GATEWAY_TEST_IMAP says: its numbers are
// Dovecot's (docs/mail.md), and a benchmark gains nothing from the fast loop.
func BenchmarkIngest(b *testing.B) {
	srv := testenv.StartDovecot(b, "alice").IMAP()
	c, err := dial(context.Background(), endpoint(srv, "alice"), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var corpus [][]byte
	for name, m := range loadManifest(b) {
		if !m.Degraded {
			src, _ := os.ReadFile(filepath.Join("testdata/corpus", name+".eml"))
			corpus = append(corpus, src)
		}
	}
	const batch = 100
	for _, mode := range []struct {
		name string
		r    MessageRedactor
	}{{"redact", newRedactor(b)}, {"plain", passthrough{}}} {
		b.Run(mode.name, func(b *testing.B) {
			st, _ := store.Open(context.Background(), store.Config{Path: filepath.Join(b.TempDir(), "gw.db"), KEK: testKEK})
			defer st.Close()
			g, err := NewIngester(MailboxConfig{Name: "bench-" + mode.name, Source: endpoint(srv, "alice"), DestFolder: "Out-" + mode.name, After: "delete"}, mode.r, st, nil)
			if err != nil {
				b.Fatal(err)
			}
			total := 0
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ensureFolder(c, "INBOX")
				for k := range batch {
					msg := corpus[k%len(corpus)]
					app := c.Append("INBOX", int64(len(msg)), nil)
					app.Write(msg)
					app.Close()
					app.Wait()
				}
				b.StartTimer()
				if _, err := g.RunOnce(context.Background()); err != nil {
					b.Fatal(err)
				}
				total += batch
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// trustDovecot is a TLS configuration that trusts d's test CA.
func trustDovecot(t *testing.T, d *testenv.Dovecot) *tls.Config {
	t.Helper()
	pemBytes, err := os.ReadFile(d.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	return &tls.Config{RootCAs: pool}
}

func TestIngestOverTLS(t *testing.T) {
	d := testenv.StartDovecotTLS(t, "alice", "bob")
	trust := trustDovecot(t, d)
	src := Endpoint{Addr: d.TLSAddr, TLS: TLSImplicit, Username: "alice", Password: "secret", TLSConfig: trust}
	dst := Endpoint{Addr: d.Addr, TLS: TLSStartTLS, Username: "bob", Password: "secret", TLSConfig: trust}
	alice, err := dial(context.Background(), src, nil, nil)
	if err != nil {
		t.Fatalf("implicit TLS: %v", err)
	}
	defer alice.Close()
	appendMsg(t, alice, "INBOX", []byte("Subject: tls\r\n\r\n4111 1111 1111 1111\r\n"), nil, time.Now())
	g, _, logs := newIngester(t, MailboxConfig{Name: "tls", Source: src, Dest: &dst, DestFolder: "Clean", After: "delete"})
	if _, err := g.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Dovecot has MULTIAPPEND: a batch is one command (appender.go).
	if !strings.Contains(logs.String(), "append=multiappend") {
		t.Errorf("the ingest did not append with MULTIAPPEND:\n%s", logs.String())
	}
	bob, err := dial(context.Background(), dst, nil, nil)
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer bob.Close()
	if got := folder(t, bob, "Clean"); len(got) != 1 || strings.Contains(string(got[0].body), "4111") {
		t.Errorf("over TLS: %d copies", len(got))
	}
	// Without trusting the certificate, nothing connects.
	src.TLSConfig = nil
	if _, err := dial(context.Background(), src, nil, nil); err == nil {
		t.Error("an untrusted certificate was accepted")
	}
}

// testKEK is the key-encryption key of this package's test stores, one for
// the whole run so that a store reopened by a test opens.
var testKEK = func() *keys.Local {
	k, err := keys.Generate()
	if err != nil {
		panic(err)
	}
	return k
}()
