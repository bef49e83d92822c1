package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/store"
)

func TestSessionIdleExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	token, _, err := e.svc.StartSession(ctx, "ann", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	// Activity restarts the idle time; a background check does not.
	e.clock.add(DefaultIdleTimeout - time.Minute)
	if _, err := e.svc.Session(ctx, token, true); err != nil {
		t.Fatalf("after %v with no activity: %v", DefaultIdleTimeout-time.Minute, err)
	}
	if err := e.svc.Sweep(ctx); err != nil { // the activity is written
		t.Fatal(err)
	}
	e.clock.add(DefaultIdleTimeout - time.Minute)
	if _, err := e.svc.Session(ctx, token, false); err != nil {
		t.Fatalf("idle %v after activity: %v", DefaultIdleTimeout-time.Minute, err)
	}
	if live, _ := e.svc.Live(ctx); !live[KeyOf(token)] {
		t.Errorf("Live lacks the session a minute before its idle end")
	}
	e.clock.add(time.Minute)
	if live, _ := e.svc.Live(ctx); live[KeyOf(token)] {
		t.Errorf("Live holds the session idle for %v", DefaultIdleTimeout)
	}
	if _, err := e.svc.Session(ctx, token, true); !errors.Is(err, ErrNoSession) {
		t.Fatalf("idle %v: %v, want ErrNoSession", DefaultIdleTimeout, err)
	}
	if err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if all, _ := e.st.Sessions(ctx); len(all) != 0 {
		t.Errorf("the sweep left %d sessions, want 0", len(all))
	}
}

func TestSessionAbsoluteEnd(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	token, _, _ := e.svc.StartSession(ctx, "ann", "")
	for elapsed := time.Duration(0); elapsed < DefaultMaxAge-10*time.Minute; elapsed += 10 * time.Minute {
		e.clock.add(10 * time.Minute)
		if _, err := e.svc.Session(ctx, token, true); err != nil {
			t.Fatalf("active session after %v: %v", elapsed, err)
		}
	}
	e.clock.add(10 * time.Minute)
	if _, err := e.svc.Session(ctx, token, true); !errors.Is(err, ErrNoSession) {
		t.Fatalf("active session after %v: %v, want ErrNoSession", DefaultMaxAge, err)
	}
}

func TestSessionsEndWithPasswordOrDisable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	t1, _, _ := e.svc.StartSession(ctx, "ann", "")
	t2, _, _ := e.svc.StartSession(ctx, "ann", "")
	if t1 == t2 {
		t.Fatal("two sign-ins got the same session token")
	}
	if err := e.svc.SetPassword(ctx, "ann", "brand new pass 5"); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{t1, t2} {
		if _, err := e.svc.Session(ctx, tok, true); !errors.Is(err, ErrNoSession) {
			t.Errorf("session after a password change: %v, want ErrNoSession", err)
		}
	}
	t3, _, _ := e.svc.StartSession(ctx, "ann", "")
	if live, _ := e.svc.Live(ctx); len(live) != 1 || !live[KeyOf(t3)] {
		t.Errorf("Live = %v, want only the session started after the password change", live)
	}
	if err := e.svc.SetDisabled(ctx, "ann", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Session(ctx, t3, true); !errors.Is(err, ErrNoSession) {
		t.Errorf("session of a disabled account: %v, want ErrNoSession", err)
	}
}

// A session survives a restart: a new store and Service on the same file
// know it.
func TestSessionSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	token, _, _ := e.svc.StartSession(ctx, "ann", "")
	e.st.Close()
	st := testenv.Store(t, store.Config{Path: e.path})
	svc, _ := New(Config{Store: st, Now: e.clock.now})
	se, err := svc.Session(ctx, token, true)
	if err != nil || se.Login != "ann" {
		t.Fatalf("after a restart: %+v, %v; want ann's session", se, err)
	}
	if login, err := svc.EndSession(ctx, token); err != nil || login != "ann" {
		t.Fatalf("EndSession = %q, %v", login, err)
	}
	if _, err := svc.Session(ctx, token, true); !errors.Is(err, ErrNoSession) {
		t.Errorf("after sign-out: %v, want ErrNoSession", err)
	}
}
