package keys

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrapRoundTripAndWrongKey(t *testing.T) {
	ctx := context.Background()
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate()
	dk := bytes.Repeat([]byte{7}, Size)
	w, err := a.Wrap(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(w, dk) {
		t.Fatal("wrapped key holds the data key in the clear")
	}
	got, err := a.Unwrap(ctx, w)
	if err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("Unwrap = %x, %v; want the data key back", got, err)
	}
	if _, err := b.Unwrap(ctx, w); !errors.Is(err, ErrUnwrap) {
		t.Errorf("another KEK unwrapped it: err = %v, want ErrUnwrap", err)
	}
	for i := range w {
		bad := bytes.Clone(w)
		bad[i] ^= 0x01
		if _, err := a.Unwrap(ctx, bad); !errors.Is(err, ErrUnwrap) {
			t.Fatalf("byte %d flipped: err = %v, want ErrUnwrap", i, err)
		}
	}
	if a.ID() == b.ID() || !strings.HasPrefix(a.ID(), "local:") {
		t.Errorf("IDs %q and %q: want distinct local: fingerprints", a.ID(), b.ID())
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "kek")
	k, err := CreateFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("key directory mode = %v, want 0700", di.Mode())
	}
	if _, err := CreateFile(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateFile over an existing key: %v, want ErrExist", err)
	}
	again, created, err := OpenOrCreateFile(path)
	if err != nil || created || again.ID() != k.ID() {
		t.Errorf("OpenOrCreateFile = %v created %v, %v; want the same key read back", again, created, err)
	}

	text, _ := os.ReadFile(path)
	os.Chmod(path, 0o644)
	_, err = ReadFile(path)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable key file: err = %v, want a refusal saying chmod 600", err)
	}
	os.Chmod(path, 0o600)

	bad := filepath.Join(dir, "bad")
	secret := strings.Repeat("zq", Size) // the right length, not hex
	os.WriteFile(bad, []byte(secret), 0o600)
	_, err = ReadFile(bad)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("bad key file: err = %v; want an error that does not quote the text", err)
	}
	if err != nil && strings.Contains(err.Error(), strings.TrimSpace(string(text))) {
		t.Error("error holds key text")
	}
}

func TestEnvProvider(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, Size)
	env := map[string]string{"KEK": hex.EncodeToString(key) + "\n", "SHORT": "abcd"}
	lookup := func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	k, err := Open(context.Background(), Config{Env: "KEK", LookupEnv: lookup})
	if err != nil {
		t.Fatal(err)
	}
	if want := "local:" + Fingerprint(key); k.ID() != want {
		t.Errorf("ID = %s, want %s (the same key gives the same ID from any source)", k.ID(), want)
	}
	if _, err := Open(context.Background(), Config{Env: "MISSING", LookupEnv: lookup}); err == nil || !strings.Contains(err.Error(), "MISSING is not set") {
		t.Errorf("missing variable: %v", err)
	}
	if _, err := Open(context.Background(), Config{Env: "SHORT", LookupEnv: lookup}); err == nil || strings.Contains(err.Error(), "abcd") {
		t.Errorf("short variable: err = %v, want an error without the value", err)
	}
	if _, err := Open(context.Background(), Config{Env: "KEK", File: "x"}); err == nil {
		t.Error("two sources accepted")
	}
}
