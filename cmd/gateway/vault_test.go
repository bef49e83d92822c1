package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/vault"
)

const (
	vaultGatewayKey  = "gateway-key-6f1d2a9c4b7e8f30"
	vaultPaymentsKey = "payments-key-0a9b8c7d6e5f4031"
)

// vaultSetup is a vault and the files of its clients, in a test's
// directory.
type vaultSetup struct {
	dir, data, file, url string
	ca                   *testenv.CA
	stderr               *testenv.LogBuffer
}

// startVault writes a vault's file (its own data directory, a server
// certificate, a client CA, the gateway as tokenize client and a payment
// processor as detokenize client) and runs `gateway vault serve`.
func startVault(t *testing.T, bin string) *vaultSetup {
	t.Helper()
	dir := t.TempDir()
	v := &vaultSetup{dir: dir, data: filepath.Join(dir, "vault-data"), file: filepath.Join(dir, "vault.yaml"),
		ca: testenv.NewCA(t, filepath.Join(dir, "pki"), "vault"), stderr: &testenv.LogBuffer{}}
	cert, key := v.ca.Server(t, "vault-server")
	hash := func(k string) string { h := vault.HashAPIKey(k); return fmt.Sprintf("%x", h) }
	file := fmt.Sprintf(`listen: "127.0.0.1:0"
data: %q
tls: {cert: %q, key: %q}
vault_server:
  client_ca: %q
  clients:
    - {name: contact-center, subject: gateway.internal, api_key_sha256: %s, roles: [tokenize]}
    - {name: payments, subject: payments.internal, api_key_sha256: %s, roles: [detokenize]}
`, v.data, cert, key, v.ca.CertPEM, hash(vaultGatewayKey), hash(vaultPaymentsKey))
	if err := os.WriteFile(v.file, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "config", "check", v.file).CombinedOutput(); err != nil {
		t.Fatalf("config check of the vault's file: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "vault", "serve", "--config", v.file)
	cmd.Stderr = v.stderr
	v.url = testenv.RunUntilURL(t, cmd)
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM) })
	return v
}

// client is an HTTPS client of the vault with the certificate of cn.
func (v *vaultSetup) client(t *testing.T, cn string) *http.Client {
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(v.ca.CertPEM)
	pool.AppendCertsFromPEM(pem)
	certFile, keyFile := v.ca.Client(t, cn)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
}

// detokenize asks the vault for token's card as a payment processor.
func (v *vaultSetup) detokenize(t *testing.T, c *http.Client, key, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", v.url+"/v1/detokenize", strings.NewReader(`{"token":"`+token+`"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// TestVaultEndToEnd: with a vault configured, the card of a chat form and
// the card of an IVR session are kept in the vault; the agent gets tokens;
// the payment processor detokenises them with its certificate and key and
// is refused without either; every call is in the vault's audit trail
// without the number; the gateway's data directory and logs hold no card,
// and the vault's files hold it only encrypted, also after a key rotation.
func TestVaultEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real gateway and vault")
	}
	bin := testenv.GatewayBinary(t)
	v := startVault(t, bin)

	// The gateway: the demo with a vault section.
	dir := t.TempDir()
	gwData := filepath.Join(dir, "data")
	caDir := filepath.Join(dir, "vault-ca")
	os.Mkdir(caDir, 0o700)
	pem, _ := os.ReadFile(v.ca.CertPEM)
	os.WriteFile(filepath.Join(caDir, "vault-ca.pem"), pem, 0o600)
	clientCert, clientKey := v.ca.Client(t, "gateway.internal")
	gwFile := filepath.Join(dir, "gateway.yaml")
	vaultSection := fmt.Sprintf("\nvault:\n  url: %s\n  ca_dir: %q\n  client_cert: %q\n  client_key: %q\n  api_key_env: GATEWAY_VAULT_KEY\n  site: shop\n",
		v.url, caDir, clientCert, clientKey)
	if err := os.WriteFile(gwFile, append(bytes.Clone(demoConfig), vaultSection...), 0o600); err != nil {
		t.Fatal(err)
	}
	gwLog := &testenv.LogBuffer{}
	cmd := exec.Command(bin, "serve", "--config", gwFile, "--listen", "127.0.0.1:0", "--data", gwData)
	cmd.Env = append(os.Environ(), "GATEWAY_VAULT_KEY="+vaultGatewayKey)
	cmd.Stderr = gwLog
	url := testenv.RunUntilURL(t, cmd)

	p := plantEverywhere(t, url)
	if !vault.ValidToken(p.formCardToken) || !vault.ValidToken(p.callToken) || p.formCardToken == p.callToken {
		t.Fatalf("tokens given to the agent: form %q, call %q; want two tokens", p.formCardToken, p.callToken)
	}

	// The payment processor reads both cards back.
	pay := v.client(t, "payments.internal")
	for token, number := range map[string]string{p.formCardToken: plantedCard, p.callToken: ivrCard} {
		code, m := v.detokenize(t, pay, vaultPaymentsKey, token)
		if code != http.StatusOK || m["number"] != number || m["expiry"] != "12/40" || m["site"] != "shop" {
			t.Errorf("detokenize %s: %d %v, want %s", token, code, m, number)
		}
	}
	// Refused: another client's certificate, the wrong key, the gateway itself.
	if code, m := v.detokenize(t, v.client(t, "someone.else"), vaultPaymentsKey, p.formCardToken); code != http.StatusUnauthorized || m["number"] != nil {
		t.Errorf("another certificate: %d %v, want 401", code, m)
	}
	if code, m := v.detokenize(t, pay, "wrong-key-0000000000000", p.formCardToken); code != http.StatusUnauthorized || m["number"] != nil {
		t.Errorf("wrong key: %d %v, want 401", code, m)
	}
	if code, m := v.detokenize(t, v.client(t, "gateway.internal"), vaultGatewayKey, p.formCardToken); code != http.StatusForbidden || m["number"] != nil {
		t.Errorf("the gateway detokenizes: %d %v, want 403", code, m)
	}
	if code, _ := v.detokenize(t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}},
		vaultPaymentsKey, p.formCardToken); code != 0 {
		t.Errorf("no client certificate: %d, want the handshake refused", code)
	}

	// The transcript holds the token, not the card.
	if text := transcript(t, url, p.conversation, p.token); !strings.Contains(text, p.formCardToken) || strings.Contains(text, plantedCard) {
		t.Errorf("transcript:\n%s\nwant the token %s and not the card", text, p.formCardToken)
	}

	// The vault's audit trail: who read which token, never the number.
	out, err := exec.Command(bin, "audit", "export", "--config", v.file).CombinedOutput()
	if err != nil {
		t.Fatalf("audit export: %v\n%s", err, out)
	}
	for _, want := range []string{`"actor":"payments","action":"card_detokenize"`, `"actor":"contact-center","action":"card_tokenize"`,
		`"actor":"contact-center","action":"card_confirm"`, p.callToken, `"action":"denied"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the vault's audit trail has no %s:\n%s", want, out)
		}
	}
	if bytes.Contains(out, []byte(plantedCard)) || bytes.Contains(out, []byte(ivrCard)) {
		t.Errorf("the vault's audit trail holds a card number:\n%s", out)
	}
	if out, err := exec.Command(bin, "audit", "verify", "--config", v.file).CombinedOutput(); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}

	// Every byte: nothing in the clear on the gateway, the vault's files
	// sealed, the logs clean.
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if f := dataFilesHolding(t, gwData); len(f) > 0 {
		t.Errorf("the gateway's data directory holds: %v", f)
	}
	if f := dataFilesHolding(t, v.data); len(f) > 0 {
		t.Errorf("the vault's data directory holds in the clear: %v", f)
	}
	for name, log := range map[string]string{"gateway": gwLog.String(), "vault": v.stderr.String()} {
		for _, n := range []string{plantedCard, ivrCard} {
			if strings.Contains(log, n) {
				t.Errorf("the %s's log holds %s", name, n)
			}
		}
	}

	// The vault's keys rotate as the gateway's do, while it serves; the
	// cards still read, and are still sealed.
	if out, err := exec.Command(bin, "keys", "rotate", "--config", v.file).CombinedOutput(); err != nil || !strings.Contains(string(out), "rotation done") {
		t.Fatalf("keys rotate on the vault: %v\n%s", err, out)
	}
	if out, _ := exec.Command(bin, "keys", "status", "--config", v.file).CombinedOutput(); !strings.Contains(string(out), "(2 of them vault cards)") {
		t.Errorf("keys status of the vault:\n%s", out)
	}
	if code, m := v.detokenize(t, pay, vaultPaymentsKey, p.callToken); code != http.StatusOK || m["number"] != ivrCard {
		t.Errorf("after rotation: %d %v", code, m)
	}
	if f := dataFilesHolding(t, v.data); len(f) > 0 {
		t.Errorf("after rotation, the vault's data directory holds in the clear: %v", f)
	}
	if out, err := exec.Command(bin, "vault", "purge", "--config", v.file).CombinedOutput(); err != nil || !strings.Contains(string(out), "0 expired cards purged") {
		t.Errorf("vault purge: %v\n%s", err, out)
	}
	// A customer's erasure: the card is gone at once, and the erasure recorded.
	if out, err := exec.Command(bin, "vault", "erase", p.formCardToken, "--config", v.file).CombinedOutput(); err != nil || !strings.Contains(string(out), "erased") {
		t.Fatalf("vault erase: %v\n%s", err, out)
	}
	if code, _ := v.detokenize(t, pay, vaultPaymentsKey, p.formCardToken); code != http.StatusNotFound {
		t.Errorf("detokenize an erased card: %d, want 404", code)
	}
	if out, _ := exec.Command(bin, "audit", "export", "--config", v.file).CombinedOutput(); !bytes.Contains(out, []byte(`"actor":"cli","action":"card_delete","outcome":"success","source":"local","target":"`+p.formCardToken)) {
		t.Errorf("the erasure is not in the vault's audit trail:\n%s", out)
	}
}
