package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/secureinput/gateway/internal/testenv"
)

func imapCount(t *testing.T, c *imapclient.Client, folder string) int {
	t.Helper()
	c.Create(folder, nil).Wait() // may exist
	data, err := c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		t.Fatalf("status %s: %v", folder, err)
	}
	return int(*data.NumMessages)
}

// TestIngestSurvivesSIGKILL kills the gateway in the middle of a batch and
// restarts it: every message is delivered exactly once and no original is
// lost.
func TestIngestSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	d := testenv.StartDovecot(t, "alice")
	bin := testenv.GatewayBinary(t)
	c, err := imapclient.DialInsecure(d.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	// Enough batches that the kill (after the first 30 copies) comes well
	// before the end at MULTIAPPEND's rate.
	const n = 1500
	var apps []*imapclient.AppendCommand
	for i := range n {
		msg := fmt.Sprintf("From: c%d@example.com\r\nSubject: message %d\r\n\r\nmy card is 4111 1111 1111 1111, order %d\r\n", i, i, i)
		app := c.Append("INBOX", int64(len(msg)), nil)
		app.Write([]byte(msg))
		app.Close()
		apps = append(apps, app)
	}
	for _, app := range apps {
		if _, err := app.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`listen: "127.0.0.1:0"
data: %q
mailboxes:
  - name: support
    source:
      address: %q
      tls: plain
      username: alice
      password_env: GW_TEST_IMAP_PASSWORD
    dest_folder: Redacted
    after: move
    move_to: Processed
    poll: 1s
`, filepath.Join(dir, "data"), d.Addr)), 0o600)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", conf)
		cmd.Env = append(os.Environ(), "GW_TEST_IMAP_PASSWORD=secret")
		cmd.Stdout, cmd.Stderr = nil, nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	first := start()
	waitFor("a part of the batch", func() bool { return imapCount(t, c, "Redacted") >= 30 })
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	killedAt := imapCount(t, c, "Redacted")
	if killedAt >= n {
		t.Fatalf("the whole batch was done before the kill (%d); nothing was tested", killedAt)
	}

	start()
	waitFor("the source to empty", func() bool {
		return imapCount(t, c, "INBOX") == 0 && imapCount(t, c, "Processed") == n
	})
	time.Sleep(200 * time.Millisecond)
	if _, err := c.Select("Redacted", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range msgs {
		body := string(m.BodySection[0].Bytes)
		if strings.Contains(body, "4111") {
			t.Errorf("a delivered copy holds the card")
		}
		i := strings.Index(body, "Subject: message ")
		if i < 0 {
			t.Fatalf("copy without subject: %q", body)
		}
		subj, _, _ := strings.Cut(body[i:], "\r\n")
		seen[subj]++
	}
	if len(msgs) != n || len(seen) != n {
		t.Errorf("%d copies of %d distinct messages, want %d of %d (killed at %d)", len(msgs), len(seen), n, n, killedAt)
	}
	for subj, k := range seen {
		if k != 1 {
			t.Errorf("%s delivered %d times", subj, k)
		}
	}
	t.Logf("killed after %d of %d; after the restart: %d copies, %d originals in Processed", killedAt, n, len(msgs), imapCount(t, c, "Processed"))
}
