package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SoftHSMModule is where Debian's softhsm2 puts its PKCS#11 library.
const SoftHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// SoftHSM is a SoftHSM2 token made for one test: its own token directory
// and configuration (SOFTHSM2_CONF is set for the test), user PIN PIN.
type SoftHSM struct {
	Module string // the PKCS#11 library
	Token  string // the token's label
	PIN    string
}

// StartSoftHSM initialises a token labelled label with softhsm2-util
// (Debian's softhsm2). A missing SoftHSM2 skips the test, or fails it
// under CI.
func StartSoftHSM(t *testing.T, label string) *SoftHSM {
	t.Helper()
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		Missing(t, "softhsm2-util (package softhsm2)")
	}
	if _, err := os.Stat(SoftHSMModule); err != nil {
		Missing(t, SoftHSMModule+" (package softhsm2)")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	text := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	h := &SoftHSM{Module: SoftHSMModule, Token: label, PIN: "4711-test"}
	cmd := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", h.PIN, "--so-pin", "0815-so")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return h
}
