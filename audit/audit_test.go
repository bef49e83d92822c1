package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
)

type env struct {
	log  *Log
	st   *store.Store
	path string
	now  time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gw.db")
	st := testenv.Store(t, store.Config{Path: path})
	eng, _ := redact.New(redact.DefaultConfig())
	e := &env{st: st, path: path, now: time.Now()}
	l, err := New(Config{Store: st, Engine: eng, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	e.log = l
	return e
}

func (e *env) record(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		if err := e.log.Record(context.Background(), Event{Actor: "ann", Action: ActionSignIn, Outcome: Success,
			Source: "192.0.2.7", Detail: fmt.Sprintf("attempt %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// attacker opens the database file as someone with access to it would,
// without the store's rules.
func (e *env) attacker(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+e.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestChainVerifies(t *testing.T) {
	e := newEnv(t)
	e.record(t, 2500) // more than two pages
	rep, err := Verify(context.Background(), e.st)
	if err != nil || !rep.OK() || rep.Records != 2500 || rep.First != 1 || rep.Last != 2500 || len(rep.Head) != 64 {
		t.Fatalf("Verify = %+v, %v; want 2500 good records", rep, err)
	}
}

func TestTamperingIsDetected(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sql    []string
		broken int64
	}{
		{"changed detail", []string{"DROP TRIGGER audit_no_update", "UPDATE audit SET detail = 'nothing happened' WHERE seq = 5"}, 5},
		{"changed actor", []string{"DROP TRIGGER audit_no_update", "UPDATE audit SET actor = 'bob' WHERE seq = 3"}, 3},
		{"removed record", []string{"DROP TRIGGER audit_retained", "DELETE FROM audit WHERE seq = 4"}, 5},
		{"changed time", []string{"DROP TRIGGER audit_no_update", "UPDATE audit SET at = at - 3600000 WHERE seq = 7"}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.record(t, 10)
			db := e.attacker(t)
			for _, q := range tc.sql {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			rep, err := Verify(context.Background(), e.st)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || rep.Broken != tc.broken {
				t.Fatalf("Verify = %+v, want broken at %d", rep, tc.broken)
			}
		})
	}
}

// A record rewritten with a correct hash of its own still breaks the
// chain at the next record.
func TestRehashedRecordBreaksTheNext(t *testing.T) {
	e := newEnv(t)
	e.record(t, 5)
	recs, _ := e.st.AuditRecords(context.Background(), 2, 1)
	r := recs[0]
	r.Detail = "forged"
	forged := r.Sum()
	db := e.attacker(t)
	db.Exec("DROP TRIGGER audit_no_update")
	if _, err := db.Exec("UPDATE audit SET detail = ?, hash = ? WHERE seq = 3", r.Detail, forged); err != nil {
		t.Fatal(err)
	}
	rep, _ := Verify(context.Background(), e.st)
	if rep.OK() || rep.Broken != 4 {
		t.Fatalf("Verify = %+v, want broken at 4", rep)
	}
}

// The database itself refuses to change a record, or remove a young one.
func TestAppendOnly(t *testing.T) {
	e := newEnv(t)
	e.record(t, 3)
	db := e.attacker(t)
	if _, err := db.Exec("UPDATE audit SET detail = 'x' WHERE seq = 1"); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("UPDATE: %v, want the append-only refusal", err)
	}
	if _, err := db.Exec("DELETE FROM audit WHERE seq = 1"); err == nil || !strings.Contains(err.Error(), "12 months") {
		t.Errorf("DELETE: %v, want the retention refusal", err)
	}
	// Prune removes only what is older than the retention time.
	e.now = e.now.Add(DefaultRetention - 24*time.Hour)
	if err := e.log.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	if recs, _ := e.st.AuditRecords(context.Background(), 0, 10); len(recs) != 3 {
		t.Errorf("after a prune within retention: %d records, want 3", len(recs))
	}
	if _, err := New(Config{Store: e.st, Engine: e.log.cfg.Engine, Retention: 300 * 24 * time.Hour}); err == nil {
		t.Error("a retention under 12 months was accepted")
	}
}

// Every text passes the redaction engine, the login included.
func TestRecordsAreRedacted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.log.Record(ctx, Event{Actor: "4111 1111 1111 1111", Action: ActionSignIn, Outcome: Failure, Source: "192.0.2.7",
		Detail: "typed 5500-0000-0000-0004 as the password hint"})
	var buf bytes.Buffer
	last, err := Export(ctx, e.st, &buf, 0)
	if err != nil || last != 1 {
		t.Fatalf("Export = %d, %v", last, err)
	}
	if strings.Contains(buf.String(), "4111") || strings.Contains(buf.String(), "5500") {
		t.Fatalf("export holds a card number: %s", buf.String())
	}
	var rec ExportRecord
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Actor != "###################" || rec.Action != ActionSignIn || rec.Source != "192.0.2.7" || len(rec.Hash) != 64 {
		t.Errorf("exported %+v", rec)
	}
	// Export from a seq gives only what is newer.
	e.record(t, 2)
	buf.Reset()
	if last, _ := Export(ctx, e.st, &buf, 1); last != 3 || strings.Count(buf.String(), "\n") != 2 {
		t.Errorf("Export after 1: last %d, %q", last, buf.String())
	}
}
