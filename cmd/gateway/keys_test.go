package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
			demo := string(demoConfig)
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
