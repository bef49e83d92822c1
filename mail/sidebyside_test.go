package mail

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/store"
)

// sideBySideMessages is how many messages each side moves per iteration.
const sideBySideMessages = 2000

// mixedMessages returns n messages of the corpus padded to about 12 KB on
// average (from 2 to 22 KB), as a support mailbox holds them.
func mixedMessages(b *testing.B, n int) [][]byte {
	b.Helper()
	var corpus [][]byte
	for name, m := range loadManifest(b) {
		if !m.Degraded {
			src, err := os.ReadFile(filepath.Join("testdata/corpus", name+".eml"))
			if err != nil {
				b.Fatal(err)
			}
			corpus = append(corpus, src)
		}
	}
	line := "Lorem ipsum dolor sit amet, the order was placed last week and has not arrived yet.\r\n"
	out := make([][]byte, n)
	for i := range out {
		pad := (2000 + (i*7919)%20000) / len(line)
		msg := corpus[i%len(corpus)]
		// The padding lines end the message: the last part's text, or the
		// epilogue of a multipart.
		m := append([]byte(fmt.Sprintf("X-Bench: %d\r\n", i)), msg...)
		out[i] = append(m, strings.Repeat(line, pad)...)
	}
	return out
}

// fill appends msgs to folder of user (pipelined, untimed).
func fill(b *testing.B, srv *testenv.IMAPServer, user, folder string, msgs [][]byte) {
	b.Helper()
	c := client(b, srv, user)
	if err := ensureFolder(c, folder); err != nil {
		b.Fatal(err)
	}
	dl := &imapDelivery{dst: c, destFolder: folder}
	copies := make([]Copy, len(msgs))
	for i, m := range msgs {
		copies[i] = Copy{Body: m, Date: time.Now()}
	}
	if err := dl.Append(context.Background(), copies); err != nil {
		b.Fatal(err)
	}
}

// settledCPU reads Dovecot's CPU time once the sessions that just ended
// have exited and been reaped (their time moves to the master's children).
func settledCPU(d *testenv.Dovecot) time.Duration {
	time.Sleep(500 * time.Millisecond)
	return d.CPU()
}

func mbsyncConfig(dir string, d *testenv.Dovecot, from, to, folder string) string {
	host, port, _ := strings.Cut(d.Addr, ":")
	var b strings.Builder
	for _, acc := range []string{from, to} {
		fmt.Fprintf(&b, "IMAPAccount %[1]s\nHost %[2]s\nPort %[3]s\nUser %[1]s\nPass %[4]s\nSSLType None\nAuthMechs LOGIN\n\nIMAPStore %[1]s\nAccount %[1]s\n\n",
			acc, host, port, d.Users[acc])
	}
	fmt.Fprintf(&b, "Channel copy\nFar :%s:INBOX\nNear :%s:%s\nCreate Near\nSync Pull New\nExpunge None\nSyncState %s/\n",
		from, to, folder, dir)
	return b.String()
}

// BenchmarkSideBySide moves the same mixed mailbox (2,000 messages of about
// 12 KB) through one loopback Dovecot (maildir) twice in each iteration:
// with mbsync (Debian's isync), which only copies, and with the gateway's
// ingest (redaction, after: move). It reports both rates, their ratio, the
// gateway's rate over the first and the second half of the mailbox (flat
// if the second is not slower), and the CPU Dovecot spent on each side.
//
//	go test -run '^$' -bench SideBySide -benchtime 1x ./mail
func BenchmarkSideBySide(b *testing.B) {
	mbsync, err := exec.LookPath("mbsync")
	if err != nil {
		testenv.Missing(b, "mbsync (package isync)")
	}
	d := testenv.StartDovecot(b, "alice", "bob", "carol")
	srv := d.IMAP()
	msgs := mixedMessages(b, sideBySideMessages)
	var mbsyncRate, gatewayRate, firstHalf, secondHalf float64
	var mbsyncCPU, gatewayCPU time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// mbsync: alice's INBOX to carol's Copy-i.
		fill(b, srv, "alice", "INBOX", msgs)
		dir := b.TempDir()
		rc := filepath.Join(dir, "mbsyncrc")
		if err := os.WriteFile(rc, []byte(mbsyncConfig(dir, d, "alice", "carol", fmt.Sprintf("Copy%d", i))), 0o600); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		cpu0, t0 := d.CPU(), time.Now()
		if out, err := exec.Command(mbsync, "-c", rc, "-q", "copy").CombinedOutput(); err != nil {
			b.Fatalf("mbsync: %v\n%s", err, out)
		}
		mbsyncRate += float64(len(msgs)) / time.Since(t0).Seconds()
		b.StopTimer()
		mbsyncCPU += settledCPU(d) - cpu0
		// Empty alice's INBOX again (the gateway moves from it next).
		c := client(b, srv, "alice")
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			b.Fatal(err)
		}
		c.Store(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
		c.Expunge().Close()
		c.Close()

		// The gateway: alice's INBOX to bob's Redacted-i, originals moved.
		fill(b, srv, "alice", "INBOX", msgs)
		st, err := store.Open(context.Background(), store.Config{Path: filepath.Join(b.TempDir(), "gw.db"), KEK: testKEK})
		if err != nil {
			b.Fatal(err)
		}
		dest := endpoint(srv, "bob")
		g, err := NewIngester(MailboxConfig{Name: fmt.Sprintf("bench%d", i), Source: endpoint(srv, "alice"), Dest: &dest,
			DestFolder: fmt.Sprintf("Redacted%d", i), After: "move", MoveTo: fmt.Sprintf("Processed%d", i)}, newRedactor(b), st, nil)
		if err != nil {
			b.Fatal(err)
		}
		var half time.Time
		g.OnProgress = func(p Progress) {
			if half.IsZero() && p.Done+p.Failed >= p.Total/2 {
				half = time.Now()
			}
		}
		b.StartTimer()
		cpu0, t0 = d.CPU(), time.Now()
		p, err := g.RunOnce(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		end := time.Now()
		gatewayRate += float64(p.Done) / end.Sub(t0).Seconds()
		firstHalf += float64(p.Done/2) / half.Sub(t0).Seconds()
		secondHalf += float64(p.Done-p.Done/2) / end.Sub(half).Seconds()
		b.StopTimer()
		gatewayCPU += settledCPU(d) - cpu0
		st.Close()
		if p.Done != len(msgs) {
			b.Fatalf("the gateway delivered %d of %d", p.Done, len(msgs))
		}
	}
	n := float64(b.N)
	b.ReportMetric(mbsyncRate/n, "mbsync-msgs/s")
	b.ReportMetric(gatewayRate/n, "gateway-msgs/s")
	b.ReportMetric(gatewayRate/mbsyncRate, "ratio")
	b.ReportMetric(firstHalf/n, "gateway-1st-half-msgs/s")
	b.ReportMetric(secondHalf/n, "gateway-2nd-half-msgs/s")
	b.ReportMetric(mbsyncCPU.Seconds()/n, "dovecot-cpu-s-mbsync")
	b.ReportMetric(gatewayCPU.Seconds()/n, "dovecot-cpu-s-gateway")
}
