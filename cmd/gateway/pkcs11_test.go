//go:build pkcs11

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secureinput/gateway/internal/testenv"
)

// TestGatewayWithSoftHSM runs the gateway with its KEK in a SoftHSM2 token:
// no key file is made, the transcript reads back after a restart, config
// check is clean, and keys rotate re-wraps a key-file KEK's data keys
// under the token's key.
func TestGatewayWithSoftHSM(t *testing.T) {
	hsm := testenv.StartSoftHSM(t, "gw")
	t.Setenv("GW_HSM_PIN", hsm.PIN)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	section := "keys:\n  kek:\n    pkcs11: {module: " + hsm.Module + ", token: gw, pin_env: GW_HSM_PIN, key_label: kek, create: true}\n"

	// First with the default key file, then moved to the token.
	g := startDemo(t, data, "")
	endedConversation(t, g.store, "c1", "", time.Now())
	g.Close()
	moved := section + "  previous:\n    - {file: " + filepath.Join(data, keyFileName) + "}\n"
	cfgFile := filepath.Join(dir, "g.yaml")
	os.WriteFile(cfgFile, []byte(demoWithWebhook+"\n"+moved), 0o600)
	if out, errs, code := runGateway(t, "", "keys", "rotate", "--config", cfgFile, "--data", data); code != exitOK || !strings.Contains(out, "rotation done") {
		t.Fatalf("keys rotate onto the token: %d %q %q", code, out, errs)
	}
	out, _, _ := runGateway(t, "", "keys", "status", "--config", cfgFile, "--data", data)
	if strings.Contains(out, "local:") || !strings.Contains(out, "pkcs11:gw/kek") {
		t.Errorf("after re-wrapping, keys status:\n%s", out)
	}
	os.Remove(filepath.Join(data, keyFileName)) // the old KEK is no longer needed
	os.WriteFile(cfgFile, []byte(demoWithWebhook+"\n"+section), 0o600)
	if _, errs, code := runGateway(t, "", "config", "check", cfgFile); code != exitOK || errs != "" {
		t.Errorf("config check with a PKCS#11 KEK: %d %q", code, errs)
	}

	g = startDemo(t, data, section)
	defer g.Close()
	evs, err := g.store.Events(context.Background(), "c1", 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Text != visitorSentence {
		t.Fatalf("transcript under the token's KEK: %+v, %v", evs, err)
	}
	if _, err := os.Stat(filepath.Join(data, keyFileName)); err == nil {
		t.Error("a key file was made although the KEK is in the token")
	}
	if f := dataFilesHolding(t, data); len(f) > 0 {
		t.Errorf("in the clear: %v", f)
	}
}
