package testenv

import (
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// IMAPEnv names the environment variable that chooses the server StartIMAP
// starts: IMAPDovecot (or unset) or IMAPMemory.
const IMAPEnv = "GATEWAY_TEST_IMAP"

// The servers StartIMAP starts, as IMAPEnv names them.
const (
	IMAPDovecot = "dovecot" // Dovecot, as StartDovecot: the default, and the only one under CI
	IMAPMemory  = "memory"  // go-imap's in-memory server (imapmemserver), in the test process
)

// memoryCaps are the capabilities of the in-memory server: IMAP4rev1, as
// Dovecot 2.3, and the extensions of Dovecot's whose absence would send the
// ingest down another path (UIDPLUS for UID EXPUNGE, MOVE for UID MOVE
// instead of COPY, STORE and EXPUNGE). IDLE and UNSELECT need no backend
// support, and imapserver always has them.
var memoryCaps = imap.CapSet{
	imap.CapIMAP4rev1: {},
	imap.CapUIDPlus:   {},
	imap.CapMove:      {},
}

// IMAPServer is an IMAP server started for one test on loopback, with a
// mailbox per user and INBOX in each; users log in with LOGIN and the
// password in Users, over plain text. It is Dovecot unless IMAPEnv says
// IMAPMemory. Tests that need what only Dovecot has (TLS, OAuth2, its CPU
// time, a server in another process) call StartDovecot and its kin.
type IMAPServer struct {
	Addr    string            // host:port of its listener (plain text, loopback)
	Users   map[string]string // login → password
	Backend string            // IMAPDovecot or IMAPMemory
	log     func() string
}

// StartIMAP starts the IMAP server IMAPEnv chooses with the given users,
// all with password "secret", as StartDovecot does. It stops when the test
// ends. Under CI the in-memory server is refused: CI runs the real Dovecot.
func StartIMAP(t testing.TB, users ...string) *IMAPServer {
	t.Helper()
	backend, err := imapBackend(os.Getenv(IMAPEnv), os.Getenv("CI") != "")
	if err != nil {
		t.Fatal(err)
	}
	if backend == IMAPMemory {
		return startMemoryIMAP(t, users)
	}
	return StartDovecot(t, users...).IMAP()
}

// IMAP returns d as an IMAPServer, for the helpers of tests that take one:
// its plain-text listener, its users and its log.
func (d *Dovecot) IMAP() *IMAPServer {
	return &IMAPServer{Addr: d.Addr, Users: d.Users, Backend: IMAPDovecot, log: d.Log}
}

// imapBackend is StartIMAP's choice from the value of IMAPEnv and whether
// CI is set.
func imapBackend(env string, ci bool) (string, error) {
	switch env {
	case "", IMAPDovecot:
		return IMAPDovecot, nil
	case IMAPMemory:
		if ci {
			return "", fmt.Errorf("testenv: %s=%s is refused when CI is set: CI runs the mail tests against the real Dovecot (unset %s)", IMAPEnv, env, IMAPEnv)
		}
		return IMAPMemory, nil
	default:
		return "", fmt.Errorf("testenv: %s=%q: want %q, %q or unset", IMAPEnv, env, IMAPDovecot, IMAPMemory)
	}
}

// Log returns what the server has logged so far (Dovecot's log file, or
// the in-memory server's errors).
func (s *IMAPServer) Log() string { return s.log() }

// startMemoryIMAP starts go-imap's in-memory server on a loopback listener
// of its own; it is closed, with every connection, when the test ends.
func startMemoryIMAP(t testing.TB, users []string) *IMAPServer {
	t.Helper()
	mem := imapmemserver.New()
	s := &IMAPServer{Users: map[string]string{}, Backend: IMAPMemory}
	for _, name := range users {
		u := imapmemserver.NewUser(name, "secret")
		if err := u.Create("INBOX", nil); err != nil {
			t.Fatalf("in-memory IMAP server: create INBOX of %s: %v", name, err)
		}
		mem.AddUser(u)
		s.Users[name] = "secret"
	}
	logs := &LogBuffer{}
	s.log = logs.String
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         memoryCaps,
		Logger:       printfLogger{logs},
		InsecureAuth: true, // plain text on loopback, as Dovecot's disable_plaintext_auth = no
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("in-memory IMAP server: %v", err)
	}
	s.Addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Serve returns nil once the listener closes; the only other error
		// is a failed Accept, which the test sees as a refused connection.
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		ln.Close() // in case Close came before Serve took the listener
		<-done
	})
	return s
}

// printfLogger is imapserver's Logger over a LogBuffer, which outlives the
// test: a connection's goroutine may still log after the test ended.
type printfLogger struct{ b *LogBuffer }

func (l printfLogger) Printf(format string, args ...any) {
	fmt.Fprintf(l.b, format+"\n", args...)
}
