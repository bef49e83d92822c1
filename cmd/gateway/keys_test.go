package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/store"
)

// writeKeyFile writes a random key file (mode 0600) and returns its path.
func writeKeyFile(t *testing.T, path string) string {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigCheckKeys: no KEK is a warning with exit 0, an error under
// require_provider; a KEK file must exist, be private, and (required) lie
// outside the data directory.
func TestConfigCheckKeys(t *testing.T) {
	dir := t.TempDir()
	kek := writeKeyFile(t, filepath.Join(dir, "kek"))
	open := writeKeyFile(t, filepath.Join(dir, "open"))
	os.Chmod(open, 0o644)
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	inData := writeKeyFile(t, filepath.Join(data, "kek"))
	cases := []struct {
		name, yaml string
		code       int
		stderr     string
	}{
		{"none", "", exitOK, "warning: no keys.kek"},
		{"none, required", "keys: {require_provider: true}\n", exitUsage, "keys.require_provider: no keys.kek"},
		{"file elsewhere", "keys:\n  kek: {file: " + kek + "}\n", exitOK, ""},
		{"file in data", "data: " + data + "\nkeys:\n  kek: {file: " + inData + "}\n", exitOK, "is inside the data directory"},
		{"file in data, required", "data: " + data + "\nkeys:\n  require_provider: true\n  kek: {file: " + inData + "}\n", exitUsage, "keys.kek.file: " + inData + " is inside the data directory"},
		{"missing file", "keys:\n  kek: {file: " + dir + "/nope}\n", exitUsage, "no such file"},
		{"readable file", "keys:\n  kek: {file: " + open + "}\n", exitUsage, "chmod 600"},
		{"two sources", "keys:\n  kek: {file: " + kek + ", env: K}\n", exitUsage, "set only one of file, env and pkcs11"},
		{"no source", "keys:\n  kek: {}\n", exitUsage, "say where the key is"},
		{"env", "keys:\n  kek: {env: GATEWAY_KEK}\n  rotate_after: 720h\n", exitOK, ""},
		{"short age", "keys:\n  kek: {env: K}\n  rotate_after: 10s\n", exitUsage, "keys.rotate_after: at least 1m"},
		{"too many encryptions", "keys:\n  kek: {env: K}\n  rotate_after_encryptions: 5000000000\n", exitUsage, "fewer than 2^32"},
		{"pkcs11 half", "keys:\n  kek:\n    pkcs11: {module: /x.so}\n", exitUsage, "token is required"},
		{"previous", "keys:\n  kek: {env: K}\n  previous:\n    - {file: " + kek + "}\n    - {}\n", exitUsage, "keys.previous[1]: say where"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "g.yaml")
			demo := demoWithWebhook                   // a webhook: its warning is not this test's
			if strings.HasPrefix(tc.yaml, "data: ") { // in place of the demo's
				demo = regexp.MustCompile(`(?m)^data: .*$`).ReplaceAllString(demo, "")
			}
			os.WriteFile(file, []byte(demo+"\n"+tc.yaml), 0o600)
			_, stderr, code := runGateway(t, "", "config", "check", file)
			if code != tc.code || (tc.stderr == "") != (stderr == "") || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and stderr holding %q", code, stderr, tc.code, tc.stderr)
			}
		})
	}
}

// startDemo starts the demo gateway in-process on data, with extra YAML.
func startDemo(t *testing.T, data, extra string) *gateway {
	t.Helper()
	cfg, err := parseConfig("demo", append(append([]byte(nil), demoConfig...), "\n"+extra...))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Data = "127.0.0.1:0", data
	g, err := startGateway(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestKeysCommands: the first start makes a private key file; keys status,
// rotate and retire work on the data directory with no configuration; a
// missing key file is a start-up error naming the key, not a new key.
func TestKeysCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	g := startDemo(t, data, "")
	if err := g.store.Write(context.Background(), "test", func(tx *store.Tx) error {
		if err := tx.CreateConversation(store.Conversation{ID: "c1", Service: "support", TokenHash: []byte{1}, State: "ended"}); err != nil {
			return err
		}
		return tx.AppendEvent(store.Event{Conversation: "c1", Seq: 1, Type: store.EventMessage, Text: "a planted sentence"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "gateway.key", "gateway.db"} {
		fi, err := os.Stat(filepath.Join(data, name))
		want := os.FileMode(0o600)
		if name == "" {
			want = 0o700
		}
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %04o", filepath.Join(data, name), fi.Mode(), err, want)
		}
	}
	out, _, code := runGateway(t, "", "keys", "status", "--data", data)
	if code != exitOK || !regexp.MustCompile(`(?m)^1 +current +local:[0-9a-f]{16} .* 1$`).MatchString(out) {
		t.Fatalf("keys status: exit %d\n%s", code, out)
	}
	out, errs, code := runGateway(t, "", "keys", "rotate", "--data", data)
	if code != exitOK || !strings.Contains(out, "new data key 2") || !strings.Contains(out, "1 of 1 (100%)") || !strings.Contains(out, "rotation done") {
		t.Fatalf("keys rotate: exit %d\n%s%s", code, out, errs)
	}
	if _, errs, code := runGateway(t, "", "keys", "retire", "2", "--data", data); code != exitFailure || !strings.Contains(errs, "seals new bodies") {
		t.Errorf("retire the current key: exit %d %q", code, errs)
	}
	if out, errs, code := runGateway(t, "", "keys", "retire", "--data", data, "1"); code != exitOK || !strings.Contains(out, "data key 1 retired") {
		t.Errorf("retire the old key: exit %d %q %q", code, out, errs)
	}
	// Every key change is in the audit trail, a failed one too.
	out, _, _ = runGateway(t, "", "audit", "export", "--data", data)
	for _, want := range []string{
		`"actor":"cli","action":"key_change","outcome":"success","source":"local","target":"data keys","detail":"rotate: a new data key`,
		`"action":"key_change","outcome":"failure","source":"local","target":"data key 2","detail":"retire"`,
		`"action":"key_change","outcome":"success","source":"local","target":"data key 1","detail":"retire"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the audit trail lacks %s:\n%s", want, out)
		}
	}
	g = startDemo(t, data, "")
	evs, err := g.store.Events(context.Background(), "c1", 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Text != "a planted sentence" {
		t.Errorf("after rotation: %+v, %v", evs, err)
	}
	g.Close()

	os.Rename(filepath.Join(data, "gateway.key"), filepath.Join(data, "lost.key"))
	cfg, _ := loadConfig("")
	cfg.Listen, cfg.Data = "127.0.0.1:0", data
	_, err = newGateway(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "data key 2") || !strings.Contains(err.Error(), "is missing") {
		t.Errorf("start with the key file gone: %v; want an error naming data key 2", err)
	}
	if _, err := os.Stat(filepath.Join(data, "gateway.key")); err == nil {
		t.Error("a new key file was made beside a database that needs the old one")
	}
	other := writeKeyFile(t, filepath.Join(t.TempDir(), "other"))
	cfg.Keys.KEK = &kekDef{File: other}
	_, err = newGateway(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "data key 2 (wrapped by key-encryption key local:") {
		t.Errorf("start with a wrong key: %v; want an error naming data key 2 and its KEK", err)
	}
}

// TestRotationKilledHalfWayResumes kills `gateway keys rotate` with SIGKILL
// after its first progress line, then runs it again: it resumes where the
// killed run stopped and ends with every body under the new key, readable.
func TestRotationKilledHalfWayResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	bin := testenv.GatewayBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	g := startDemo(t, data, "")
	const convs, each = 20, 5000
	for c := range convs {
		err := g.store.Write(context.Background(), "test", func(tx *store.Tx) error {
			id := fmt.Sprintf("c%02d", c)
			if err := tx.CreateConversation(store.Conversation{ID: id, Service: "support", TokenHash: []byte{1}, State: "ended"}); err != nil {
				return err
			}
			for seq := int64(1); seq <= each; seq++ {
				if err := tx.AppendEvent(store.Event{Conversation: id, Seq: seq, Type: store.EventMessage, Text: fmt.Sprintf("%s %d", visitorSentence, seq)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	g.Close()

	cmd := exec.Command(bin, "keys", "rotate", "--data", data)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "re-encrypting under data key 2: ") {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	cmd.Wait()
	status, _, _ := runGateway(t, "", "keys", "status", "--data", data)
	m := regexp.MustCompile(`rotation under way: re-encrypting under data key 2, (\d+) of (\d+) done`).FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("after the kill, no rotation under way (it finished first?):\n%s", status)
	}
	if m[2] != fmt.Sprint(convs*each) || m[1] == "0" || m[1] == m[2] {
		t.Fatalf("killed at %s of %s, want part way", m[1], m[2])
	}
	t.Logf("killed at %s of %s", m[1], m[2])

	stdout, errs, code := runGateway(t, "", "keys", "rotate", "--data", data)
	if code != exitOK || !strings.Contains(stdout, "resuming the rotation to data key 2 at "+m[1]) || !strings.Contains(stdout, "rotation done") {
		t.Fatalf("resume: exit %d\n%s%s", code, stdout, errs)
	}
	status, _, _ = runGateway(t, "", "keys", "status", "--data", data)
	if !regexp.MustCompile(`(?m)^1 .* 0$`).MatchString(status) || !regexp.MustCompile(fmt.Sprintf(`(?m)^2 +current .* %d$`, convs*each)).MatchString(status) ||
		!strings.Contains(status, "no rotation under way") {
		t.Errorf("after resuming, want every body under key 2:\n%s", status)
	}
	g = startDemo(t, data, "")
	defer g.Close()
	for _, id := range []string{"c00", "c19"} {
		evs, err := g.store.Events(context.Background(), id, each-3, 10)
		if err != nil || len(evs) != 3 || evs[2].Text != fmt.Sprintf("%s %d", visitorSentence, each) {
			t.Errorf("%s after rotation: %+v, %v", id, evs, err)
		}
	}
}

// TestRotateWhileServing runs keys rotate while the gateway keeps writing:
// when it is done, every body, those written during the rotation included,
// is under the new key, and the gateway reads them all.
func TestRotateWhileServing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	g := startDemo(t, data, "")
	defer g.Close()
	ctx := context.Background()
	write := func(id string, n int64) {
		err := g.store.Write(ctx, "test", func(tx *store.Tx) error {
			if err := tx.CreateConversation(store.Conversation{ID: id, Service: "support", TokenHash: []byte{1}, State: "ended"}); err != nil {
				return err
			}
			for seq := int64(1); seq <= n; seq++ {
				if err := tx.AppendEvent(store.Event{Conversation: id, Seq: seq, Type: store.EventMessage, Text: agentSentence}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
	for i := range 10 {
		write(fmt.Sprintf("before%d", i), 500)
	}
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		for ; ; n++ {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			write(fmt.Sprintf("during%04d", n), 5)
		}
	}()
	stdout, errs, code := runGateway(t, "", "keys", "rotate", "--data", data)
	close(stop)
	during := <-done
	if code != exitOK {
		t.Fatalf("keys rotate while serving: exit %d\n%s%s", code, stdout, errs)
	}
	st, err := g.store.KeyStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Keys) != 2 || st.Keys[0].Bodies != 0 || st.Keys[1].Bodies != st.Bodies || st.Bodies != int64(5000+5*during) {
		t.Errorf("after rotating while %d conversations were written: %+v", during, st)
	}
	for _, id := range []string{"before0", "during0000"} {
		if evs, err := g.store.Events(ctx, id, 0, 1); err != nil || len(evs) != 1 || evs[0].Text != agentSentence {
			t.Errorf("%s: %+v, %v", id, evs, err)
		}
	}
}

// serveBanner runs gateway serve in-process until its banner is out, then
// stops it and returns its stdout and stderr.
func serveBanner(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var out, errs testenv.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...), strings.NewReader(""), &out, &errs)
	}()
	for i := 0; !strings.Contains(out.String(), "keys:") && i < 400; i++ {
		select {
		case code := <-done:
			cancel()
			return out.String(), errs.String() + fmt.Sprintf("(exit %d)", code)
		case <-time.After(25 * time.Millisecond):
		}
	}
	cancel()
	<-done
	return out.String(), errs.String()
}

// TestBannerNamesTheKey: the first start says it made a key file beside
// the data; later starts name it; a configured KEK is named by its source
// and ID; the key itself is never printed.
func TestBannerNamesTheKey(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	out, _ := serveBanner(t, "--data", data)
	keyFile := filepath.Join(data, keyFileName)
	if !strings.Contains(out, "keys:           key file "+keyFile+" (local:") || !strings.Contains(out, "created now") {
		t.Errorf("first start banner:\n%s", out)
	}
	key, _ := os.ReadFile(keyFile)
	out2, _ := serveBanner(t, "--data", data)
	if strings.Contains(out2, "created now") || !strings.Contains(out2, "beside the data") {
		t.Errorf("second start banner:\n%s", out2)
	}
	kek := writeKeyFile(t, filepath.Join(t.TempDir(), "kek"))
	cfg := filepath.Join(t.TempDir(), "g.yaml")
	os.WriteFile(cfg, []byte(string(demoConfig)+"\nkeys:\n  kek: {file: "+kek+"}\n"), 0o600)
	out3, errs3 := serveBanner(t, "--config", cfg, "--data", filepath.Join(t.TempDir(), "d2"))
	if !strings.Contains(out3, "keys:           key file "+kek+" (local:") || strings.Contains(out3, "beside the data") {
		t.Errorf("configured KEK banner:\n%s%s", out3, errs3)
	}
	text, _ := os.ReadFile(kek)
	for _, s := range []string{out, out2, out3, errs3} {
		if strings.Contains(s, strings.TrimSpace(string(key))) || strings.Contains(s, strings.TrimSpace(string(text))) {
			t.Error("a key was printed")
		}
	}
}
