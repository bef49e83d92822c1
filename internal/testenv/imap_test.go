package testenv

import (
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func TestMemoryIMAPLogsInAndRefusesWrongPassword(t *testing.T) {
	t.Setenv(IMAPEnv, IMAPMemory)
	t.Setenv("CI", "") // this test checks the server itself, not the choice
	s := StartIMAP(t, "alice", "bob")
	if s.Backend != IMAPMemory {
		t.Fatalf("backend %q with %s=%s, want %q", s.Backend, IMAPEnv, IMAPMemory, IMAPMemory)
	}
	for _, tc := range []struct {
		name, user, password string
		ok                   bool
	}{
		{"the user's password", "alice", s.Users["alice"], true},
		{"another user's account", "bob", s.Users["bob"], true},
		{"a wrong password", "alice", "not-" + s.Users["alice"], false},
		{"an unknown user", "mallory", s.Users["alice"], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := imapclient.DialInsecure(s.Addr, nil)
			if err != nil {
				t.Fatalf("dial %s: %v", s.Addr, err)
			}
			defer c.Close()
			err = c.Login(tc.user, tc.password).Wait()
			if !tc.ok {
				var refused *imap.Error
				if !errors.As(err, &refused) || refused.Type != imap.StatusResponseTypeNo {
					t.Fatalf("login as %s with %q: %v, want a NO reply", tc.user, tc.password, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("login as %s: %v\n%s", tc.user, err, s.Log())
			}
			// What the ingest relies on: INBOX exists, and UID MOVE, UID
			// EXPUNGE and IDLE are there, as on Dovecot.
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatalf("select INBOX: %v", err)
			}
			for _, capability := range []imap.Cap{imap.CapUIDPlus, imap.CapMove, imap.CapIdle} {
				if !c.Caps().Has(capability) {
					t.Errorf("capabilities %v lack %s", c.Caps(), capability)
				}
			}
		})
	}
}

func TestIMAPBackendChoice(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		ci        bool
		want      string // "" if refused
		errHas    string
	}{
		{"unset", "", false, IMAPDovecot, ""},
		{"unset under CI", "", true, IMAPDovecot, ""},
		{"dovecot", "dovecot", false, IMAPDovecot, ""},
		{"memory", "memory", false, IMAPMemory, ""},
		{"memory under CI", "memory", true, "", "CI runs the mail tests against the real Dovecot"},
		{"a typo", "memroy", false, "", `"memroy"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := imapBackend(tc.env, tc.ci)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("imapBackend(%q, ci=%v) = %q, %v; want an error saying %s", tc.env, tc.ci, got, err, tc.errHas)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("imapBackend(%q, ci=%v) = %q, %v; want %q", tc.env, tc.ci, got, err, tc.want)
			}
		})
	}
}
