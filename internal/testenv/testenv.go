// Package testenv finds and starts the real servers and programs integration
// tests need (Chromium, Dovecot). A missing one skips the test on a
// developer's machine and fails it when CI is set: CI must never pass by
// skipping. For the edit loop, StartIMAP can stand go-imap's in-memory IMAP
// server in for Dovecot (GATEWAY_TEST_IMAP=memory), never under CI.
package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Missing skips the test, or fails it under CI, because what is missing.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing; CI requires it (make test installs it)", what)
	}
	t.Skipf("%s is missing (make test installs it)", what)
}

// Chromium returns the path of Debian's chromium (or $CHROMIUM).
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(t, "chromium")
	return ""
}

// Dovecot is a Dovecot IMAP server started for one test, on loopback, from
// a configuration and mail directory of its own.
type Dovecot struct {
	Addr  string            // host:port of its IMAP listener (plain text, loopback; STARTTLS with TLS)
	Users map[string]string // login → password
	// With StartDovecotTLS: the implicit-TLS (IMAPS) listener, and the PEM
	// file of the self-signed certificate to trust.
	TLSAddr string
	CAFile  string
	dir     string
	conf    string
	cmd     *exec.Cmd
}

// StartDovecot starts Dovecot (Debian's dovecot-imapd) with the given
// virtual users, all with password "secret". It stops when the test ends.
func StartDovecot(t testing.TB, users ...string) *Dovecot {
	t.Helper()
	return startDovecot(t, false, "", users)
}

// StartDovecotOAuth2 is StartDovecot whose users log in with OAuth2 bearer
// tokens (SASL XOAUTH2 and OAUTHBEARER) only: Dovecot's oauth2 passdb asks
// introspectionURL (RFC 7662, token=… POSTed) whether a token is active
// and whose it is ("username" in the answer). Passwords are refused.
func StartDovecotOAuth2(t testing.TB, introspectionURL string, users ...string) *Dovecot {
	t.Helper()
	return startDovecot(t, false, introspectionURL, users)
}

// StartDovecotTLS is StartDovecot with TLS: STARTTLS on Addr, implicit TLS
// on TLSAddr, a self-signed certificate for 127.0.0.1 in CAFile.
func StartDovecotTLS(t testing.TB, users ...string) *Dovecot {
	t.Helper()
	return startDovecot(t, true, "", users)
}

func startDovecot(t testing.TB, withTLS bool, introspection string, users []string) *Dovecot {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/dovecot"); err2 == nil {
			bin = "/usr/sbin/dovecot"
		} else {
			Missing(t, "dovecot (package dovecot-imapd)")
		}
	}
	uid, gid := lookupIDs(t, "dovecot")
	dir, err := os.MkdirTemp("", "dovecot")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	d := &Dovecot{dir: dir, Users: map[string]string{}}
	var passwd strings.Builder
	for _, u := range users {
		home := filepath.Join(dir, "mail", u)
		os.MkdirAll(home, 0o700)
		os.Chown(filepath.Join(dir, "mail"), uid, gid)
		os.Chown(home, uid, gid)
		fmt.Fprintf(&passwd, "%s:{PLAIN}secret:%d:%d::%s\n", u, uid, gid, home)
		d.Users[u] = "secret"
	}
	os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd.String()), 0o644)
	port, tlsPort := freePort(t), 0
	d.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	sslConf := "ssl = no"
	if withTLS {
		tlsPort = freePort(t)
		d.TLSAddr = fmt.Sprintf("127.0.0.1:%d", tlsPort)
		d.CAFile = filepath.Join(dir, "cert.pem")
		keyFile := filepath.Join(dir, "key.pem")
		selfSigned(t, d.CAFile, keyFile)
		sslConf = fmt.Sprintf("ssl = yes\nssl_cert = <%s\nssl_key = <%s", d.CAFile, keyFile)
	}
	// penalty: with OAuth2, no growing delay after a refused token (anvil's
	// auth penalty), so that tests of refusals see the gateway's backoff.
	penalty := ""
	mechs, passdb := "plain login", fmt.Sprintf(`passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %s/passwd
}`, dir)
	if introspection != "" {
		ext := filepath.Join(dir, "oauth2.conf.ext")
		os.WriteFile(ext, []byte(fmt.Sprintf("introspection_mode = post\nintrospection_url = %s\nusername_attribute = username\nactive_attribute = active\nactive_value = true\n", introspection)), 0o644)
		mechs = "xoauth2 oauthbearer"
		penalty = "\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }"
		passdb = fmt.Sprintf("passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = %s\n}", ext)
	}
	conf := fmt.Sprintf(`protocols = imap
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
%[3]s
disable_plaintext_auth = no
auth_mechanisms = %[5]s
mail_location = maildir:~/Maildir
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
%[6]s
userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/passwd
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[4]d
    ssl = yes
  }
}
service anvil {
  chroot =%[7]s
}
protocol imap {
  mail_max_userip_connections = 100
}
`, dir, port, sslConf, tlsPort, mechs, passdb, penalty)
	d.conf = filepath.Join(dir, "dovecot.conf")
	os.WriteFile(d.conf, []byte(conf), 0o644)
	d.cmd = exec.Command(bin, "-F", "-c", d.conf)
	var stderr strings.Builder
	d.cmd.Stderr = &stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start dovecot: %v", err)
	}
	t.Cleanup(d.Stop)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.Addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Fatalf("dovecot did not listen on %s: %s\n%s", d.Addr, stderr.String(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d
}

// CPU returns the processor time Dovecot has used so far: its master
// process, the children it has reaped (the IMAP sessions that ended) and
// the children still running. Linux only (from /proc); 0 elsewhere.
func (d *Dovecot) CPU() time.Duration {
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	master := d.cmd.Process.Pid
	total := procCPU(master, true)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == master {
			continue
		}
		if ppid, ok := procParent(pid); ok && ppid == master {
			total += procCPU(pid, false)
		}
	}
	return total
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	return strings.Fields(s)
}

func procParent(pid int) (int, bool) {
	f := procStat(pid)
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// procCPU is utime+stime (and, with children, cutime+cstime) of pid.
func procCPU(pid int, children bool) time.Duration {
	f := procStat(pid)
	if len(f) < 15 {
		return 0
	}
	fields := []int{11, 12} // utime, stime (fields 14 and 15 of stat)
	if children {
		fields = append(fields, 13, 14)
	}
	var ticks int64
	for _, i := range fields {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

// Stop stops Dovecot (doveadm stop) and removes its files.
func (d *Dovecot) Stop() {
	if d.cmd == nil {
		return
	}
	exec.Command("doveadm", "-c", d.conf, "stop").Run()
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
	d.cmd = nil
	os.RemoveAll(d.dir)
}

func lookupIDs(t testing.TB, name string) (int, int) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		Missing(t, "the "+name+" system user (package dovecot-core)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t testing.TB, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// SelfSigned writes a self-signed certificate for 127.0.0.1 and localhost
// and its key, PEM, for tests of the gateway's own TLS.
func SelfSigned(t testing.TB, certFile, keyFile string) { selfSigned(t, certFile, keyFile) }

// Log returns what Dovecot has logged so far.
func (d *Dovecot) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "dovecot.log"))
	return string(b)
}
