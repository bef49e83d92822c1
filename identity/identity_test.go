package identity

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/store"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const goodPassword = "correct horse 42"

type env struct {
	svc   *Service
	st    *store.Store
	clock *clock
	path  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gw.db")
	st := testenv.Store(t, store.Config{Path: path})
	c := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	svc, err := New(Config{Store: st, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hash, _ := bcrypt.GenerateFromPassword([]byte(goodPassword), bcrypt.MinCost)
	if err := svc.Bootstrap(ctx, []Bootstrap{{Login: "ann", Name: "Ann", PasswordHash: string(hash), Workgroups: []string{"support"}}}); err != nil {
		t.Fatal(err)
	}
	return &env{svc: svc, st: st, clock: c, path: path}
}

// attempts signs in n times and returns the errors.
func (e *env) attempts(t *testing.T, login, password string, n int) []error {
	t.Helper()
	var out []error
	for range n {
		_, err := e.svc.SignIn(context.Background(), login, password)
		out = append(out, err)
	}
	return out
}

func TestLockoutAfterTenFailures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i, err := range e.attempts(t, "ann", "wrong password 1", DefaultMaxFailures) {
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v, want ErrBadCredentials", i+1, err)
		}
	}
	res, err := e.svc.SignIn(ctx, "ann", goodPassword)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("right password after %d failures: %v, want ErrLocked", DefaultMaxFailures, err)
	}
	if want := e.clock.now().Add(DefaultLockout); !res.LockedUntil.Equal(want) {
		t.Errorf("locked until %v, want %v", res.LockedUntil, want)
	}
	e.clock.add(DefaultLockout - time.Second)
	if _, err := e.svc.SignIn(ctx, "ann", goodPassword); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second before the lockout ends: %v, want ErrLocked", err)
	}
	e.clock.add(time.Second)
	if _, err := e.svc.SignIn(ctx, "ann", goodPassword); err != nil {
		t.Fatalf("after the lockout: %v, want success", err)
	}
	// A success resets the count: nine more failures do not lock.
	e.attempts(t, "ann", "wrong password 1", DefaultMaxFailures-1)
	if _, err := e.svc.SignIn(ctx, "ann", goodPassword); err != nil {
		t.Fatalf("after a success and %d failures: %v, want success", DefaultMaxFailures-1, err)
	}
}

func TestUnlockByAdministrator(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.attempts(t, "ann", "wrong password 1", DefaultMaxFailures)
	accts, err := e.svc.Accounts(ctx)
	if err != nil || len(accts) != 1 || !accts[0].Locked {
		t.Fatalf("Accounts = %+v, %v; want ann locked", accts, err)
	}
	// The administrator works on the same file from another process: a
	// Service of its own on a store of its own.
	other := testenv.Store(t, store.Config{Path: e.path})
	admin, _ := New(Config{Store: other, Now: e.clock.now})
	if err := admin.Unlock(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SignIn(ctx, "ann", goodPassword); err != nil {
		t.Fatalf("after unlock: %v, want success", err)
	}
	if err := admin.Unlock(ctx, "nobody"); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("Unlock(nobody) = %v, want ErrUnknownAccount", err)
	}
}

// An unknown login gets the same answers, in the same order, as a known
// one: nothing tells which accounts exist.
func TestUnknownLoginsAnswerAsKnownOnes(t *testing.T) {
	e := newEnv(t)
	known := e.attempts(t, "ann", "wrong password 1", DefaultMaxFailures+2)
	unknown := e.attempts(t, "bob", "wrong password 1", DefaultMaxFailures+2)
	for i := range known {
		if kind(unknown[i]) != kind(known[i]) {
			t.Errorf("attempt %d: known login %v, unknown login %v", i+1, known[i], unknown[i])
		}
	}
	if !errors.Is(unknown[DefaultMaxFailures], ErrLocked) {
		t.Errorf("unknown login after %d failures: %v, want ErrLocked", DefaultMaxFailures, unknown[DefaultMaxFailures])
	}
	// A disabled account answers as an unknown login.
	ctx := context.Background()
	if err := e.svc.SetDisabled(ctx, "ann", true); err != nil {
		t.Fatal(err)
	}
	e.clock.add(DefaultLockout)
	if _, err := e.svc.SignIn(ctx, "ann", goodPassword); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("disabled account, right password: %v, want ErrBadCredentials", err)
	}
}

func kind(err error) string {
	switch {
	case errors.Is(err, ErrLocked):
		return "locked"
	case errors.Is(err, ErrBadCredentials):
		return "bad credentials"
	}
	return "other"
}

// Every attempt runs exactly one password check, whichever way it fails:
// the answer takes as long whether the login exists or not
// (BenchmarkSignIn measures it).
func TestEveryAttemptChecksOnePassword(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.attempts(t, "locked", "x", DefaultMaxFailures)
	for _, tc := range []struct{ name, login, password string }{
		{"right", "ann", goodPassword},
		{"wrong", "ann", "nope"},
		{"unknown", "bob", "nope"},
		{"locked", "locked", "nope"},
		{"bad login", "a b", "nope"},
	} {
		before := e.svc.hashRuns.Load()
		e.svc.SignIn(ctx, tc.login, tc.password)
		if n := e.svc.hashRuns.Load() - before; n != 1 {
			t.Errorf("%s: %d password checks, want 1", tc.name, n)
		}
	}
	// The stand-in hash has the accounts' parameters.
	if got, want := hashParams(e.svc.dummyHash(ctx)), "bcrypt 4"; got != want {
		t.Errorf("dummy hash %q, want %q (the accounts' cost)", got, want)
	}
}

// 200 guesses at once do not slip past the count.
func TestConcurrentGuessesAreCounted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() { e.svc.SignIn(ctx, "ann", "wrong password 1") })
	}
	wg.Wait()
	if _, err := e.svc.SignIn(ctx, "ann", goodPassword); !errors.Is(err, ErrLocked) {
		t.Fatalf("right password after 200 concurrent guesses: %v, want ErrLocked", err)
	}
	f, _ := e.st.LoginFailures(ctx, "ann")
	if f.Failures != DefaultMaxFailures {
		t.Errorf("%d failures counted, want %d (the rest answered locked)", f.Failures, DefaultMaxFailures)
	}
}

func TestPasswordRules(t *testing.T) {
	for _, tc := range []struct {
		password string
		ok       bool
	}{
		{"short1", false},
		{"onlyletterslong", false},
		{"123456789012", false},
		{"letters and 1 digit", true},
		{"ann-is-12345", false}, // holds the login
		{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", false}, // over 72 bytes
		{"pässwörd1234", true},
	} {
		err := CheckPassword("ann", tc.password)
		if (err == nil) != tc.ok {
			t.Errorf("CheckPassword(%q) = %v, want ok=%v", tc.password, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrWeakPassword) {
			t.Errorf("CheckPassword(%q) = %v, want ErrWeakPassword", tc.password, err)
		}
	}
	e := newEnv(t)
	if err := e.svc.Add(context.Background(), NewAccount{Login: "cy"}, "weak"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("Add with a weak password: %v, want ErrWeakPassword", err)
	}
	if err := e.svc.SetPassword(context.Background(), "ann", "weak"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("SetPassword with a weak password: %v, want ErrWeakPassword", err)
	}
}

func TestAccounts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.Add(ctx, NewAccount{Login: "cy", Name: "Cy", Workgroups: []string{"sales"}, Rights: []string{"secure_input"}}, "new password 99"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Add(ctx, NewAccount{Login: "cy"}, "new password 99"); !errors.Is(err, ErrAccountExists) {
		t.Errorf("adding cy twice: %v, want ErrAccountExists", err)
	}
	if _, err := e.svc.SignIn(ctx, "cy", "new password 99"); err != nil {
		t.Fatalf("cy signs in: %v", err)
	}
	// The file's account keeps its password once set locally, even if the
	// file's hash changes; a file hash change otherwise is a new password.
	if err := e.svc.SetPassword(ctx, "ann", "another pass 77"); err != nil {
		t.Fatal(err)
	}
	other, _ := bcrypt.GenerateFromPassword([]byte("file password 1"), bcrypt.MinCost)
	if err := e.svc.Bootstrap(ctx, []Bootstrap{{Login: "ann", PasswordHash: string(other)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SignIn(ctx, "ann", "another pass 77"); err != nil {
		t.Errorf("ann's local password after a bootstrap: %v", err)
	}
	accts, _ := e.svc.Accounts(ctx)
	if len(accts) != 2 || accts[0].Login != "ann" || accts[0].FromConfig || accts[1].Login != "cy" || accts[1].Workgroups[0] != "sales" {
		t.Errorf("Accounts = %+v", accts)
	}
	// An account seeded from the file and gone from it is disabled.
	if err := e.svc.Bootstrap(ctx, []Bootstrap{{Login: "dee", PasswordHash: string(other)}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Bootstrap(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SignIn(ctx, "dee", "file password 1"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("dee, removed from the file: %v, want ErrBadCredentials", err)
	}
}

// BenchmarkSignIn compares a wrong password for an account with any
// password for a login that does not exist: the two take as long.
func BenchmarkSignIn(b *testing.B) {
	path := filepath.Join(b.TempDir(), "gw.db")
	st := testenv.Store(b, store.Config{Path: path, Durability: store.SurvivesProcessCrash})
	c := &clock{t: time.Now()}
	svc, _ := New(Config{Store: st, Now: c.now, MaxFailures: 1 << 30})
	hash, _ := HashPassword(goodPassword)
	svc.Bootstrap(context.Background(), []Bootstrap{{Login: "ann", PasswordHash: hash}})
	for _, login := range []string{"ann", "nobody"} {
		b.Run(login, func(b *testing.B) {
			for b.Loop() {
				svc.SignIn(context.Background(), login, "wrong password 1")
			}
		})
	}
}
