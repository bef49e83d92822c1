//go:build pkcs11

package keys_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/keys"
)

// TestPKCS11SoftHSM wraps and unwraps data keys with an AES-256 key made in
// a SoftHSM2 token, opens it again by label, and checks that another key,
// a wrong PIN and altered bytes all fail, with no PIN in any error.
func TestPKCS11SoftHSM(t *testing.T) {
	hsm := testenv.StartSoftHSM(t, "gateway")
	env := map[string]string{"PIN": hsm.PIN, "BAD": "0000"}
	lookup := func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	cfg := keys.Config{PKCS11: &keys.PKCS11Config{Module: hsm.Module, Token: hsm.Token, PINEnv: "PIN", KeyLabel: "kek-1"}, LookupEnv: lookup}
	ctx := context.Background()

	if _, err := keys.Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "no such key") {
		t.Fatalf("open a key that is not there, without create: %v", err)
	}
	cfg.PKCS11.Create = true
	k, err := keys.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID() != "pkcs11:gateway/kek-1" {
		t.Errorf("ID = %q", k.ID())
	}
	dk := bytes.Repeat([]byte{0x5a}, keys.Size)
	w, err := k.Wrap(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(w, dk) {
		t.Fatal("the wrapped key holds the data key")
	}
	k.Close()

	cfg.PKCS11.Create = false
	again, err := keys.Open(ctx, cfg) // the same key, found by its label
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got, err := again.Unwrap(ctx, w); err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("unwrap after reopening: %x, %v", got, err)
	}
	bad := bytes.Clone(w)
	bad[len(bad)-1] ^= 1
	if _, err := again.Unwrap(ctx, bad); !errors.Is(err, keys.ErrUnwrap) {
		t.Errorf("altered wrapped key: %v, want keys.ErrUnwrap", err)
	}

	other, err := keys.Open(ctx, keys.Config{PKCS11: &keys.PKCS11Config{Module: hsm.Module, Token: hsm.Token, PINEnv: "PIN", KeyLabel: "kek-2", Create: true}, LookupEnv: lookup})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Unwrap(ctx, w); !errors.Is(err, keys.ErrUnwrap) {
		t.Errorf("another token key unwrapped it: %v", err)
	}

	// Log-in state is the token's, per process: close every session first.
	again.Close()
	other.Close()
	cfg.PKCS11.PINEnv = "BAD"
	_, err = keys.Open(ctx, cfg)
	if err == nil || strings.Contains(err.Error(), "0000") || !strings.Contains(err.Error(), "log in") {
		t.Errorf("wrong PIN: %v; want a log-in error without the PIN", err)
	}
	cfg.PKCS11.PINEnv, cfg.PKCS11.Token = "PIN", "nope"
	if _, err := keys.Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), `no token labelled "nope"`) {
		t.Errorf("missing token: %v", err)
	}
}
