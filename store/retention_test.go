package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// conversationAt writes an ended (or, at zero, open) conversation of a
// visitor with one message and a system event holding text.
func conversationAt(t *testing.T, s *Store, id, visitor string, ended time.Time) {
	t.Helper()
	err := s.Write(context.Background(), "test", func(tx *Tx) error {
		if err := tx.CreateConversation(Conversation{ID: id, Service: "s", TokenHash: []byte{1}, State: "ended", Created: ended.Add(-time.Hour), Visitor: visitor}); err != nil {
			return err
		}
		if err := tx.Join(id, "visitor", "visitor", ended.Add(-time.Hour)); err != nil {
			return err
		}
		if err := tx.AppendEvent(Event{Conversation: id, Seq: 1, Type: EventMessage, Text: planted + " #1"}); err != nil {
			return err
		}
		if err := tx.AppendEvent(Event{Conversation: id, Seq: 2, Type: "secure_input", AuthorName: "accepted", Text: planted + " #2"}); err != nil {
			return err
		}
		return tx.SetState(id, "ended", "", ended)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func countRows(t *testing.T, s *Store, table, conversation string) int {
	t.Helper()
	col := "conversation"
	if table == "conversations" {
		col = "id"
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM `+table+` WHERE `+col+` = ?`, conversation).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPurgeAndErase: the purge removes what ended before the cut-off and
// nothing else; erase removes a conversation, or every conversation of a
// visitor, but not an open one; each is audited without text, and the audit
// log stays.
func TestPurgeAndErase(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	defer s.Close()
	now := time.Now()
	conversationAt(t, s, "old1", "", now.Add(-100*24*time.Hour))
	conversationAt(t, s, "old2", "v9", now.Add(-91*24*time.Hour))
	conversationAt(t, s, "new", "", now.Add(-time.Hour))
	conversationAt(t, s, "v1a", "visitor-1", now.Add(-2*time.Hour))
	conversationAt(t, s, "v1b", "visitor-1", now.Add(-3*time.Hour))
	conversationAt(t, s, "v2", "visitor-2", now.Add(-3*time.Hour))
	if err := s.Write(ctx, "test", func(tx *Tx) error { return tx.SetState("v2", "active", "ann", time.Time{}) }); err != nil {
		t.Fatal(err)
	}

	n, err := s.Purge(ctx, now.Add(-90*24*time.Hour), "retention")
	if err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want the 2 conversations ended over 90 days ago", n, err)
	}
	for _, id := range []string{"old1", "old2"} {
		for _, table := range []string{"conversations", "events", "participants"} {
			if c := countRows(t, s, table, id); c != 0 {
				t.Errorf("%s: %d rows of %s left after the purge", id, c, table)
			}
		}
	}
	if _, err := s.Conversation(ctx, "new"); err != nil {
		t.Errorf("a recent conversation was purged: %v", err)
	}
	checkTexts2(t, s, "new")

	if err := s.Erase(ctx, "new", "ops:alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Conversation(ctx, "new"); !errors.Is(err, ErrNotFound) {
		t.Errorf("erased conversation still there: %v", err)
	}
	if err := s.Erase(ctx, "new", "ops:alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("erase again: %v, want ErrNotFound", err)
	}
	if n, err := s.EraseVisitor(ctx, "visitor-2", "ops:alice"); !errors.Is(err, ErrOpen) || n != 0 {
		t.Errorf("erase a visitor with an open chat: %d, %v; want ErrOpen", n, err)
	}
	if err := s.Erase(ctx, "v2", "ops:alice"); !errors.Is(err, ErrOpen) {
		t.Errorf("erase an open chat: %v, want ErrOpen", err)
	}
	if n, err := s.EraseVisitor(ctx, "visitor-1", "ops:bob"); err != nil || n != 2 {
		t.Errorf("erase visitor-1: %d, %v; want 2", n, err)
	}
	for _, id := range []string{"v1a", "v1b"} {
		if c := countRows(t, s, "events", id); c != 0 {
			t.Errorf("%s: %d events after erasing its visitor", id, c)
		}
	}
	if _, err := s.Conversation(ctx, "v2"); err != nil {
		t.Errorf("another visitor's conversation went: %v", err)
	}

	// A purge after all that leaves the audit log as it was.
	if _, err := s.Purge(ctx, now, "retention"); err != nil {
		t.Fatal(err)
	}
	log, err := s.Erasures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range log {
		got = append(got, fmt.Sprintf("%s %s %s %d", r.Action, r.Actor, r.Subject, r.Count))
		if strings.Contains(r.Subject, "quokka") || strings.Contains(r.Subject, "visitor-1") {
			t.Errorf("audit record holds text or the visitor id: %+v", r)
		}
	}
	want := []string{
		"purge retention ended before " + now.Add(-90*24*time.Hour).UTC().Format(time.RFC3339) + " 2",
		"erase ops:alice new 1",
		"erase ops:bob " + VisitorSubject("visitor-1") + " 2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// They are records of the audit trail's hash chain, each linked to the
	// one before.
	recs, err := s.AuditRecords(ctx, 0, 100)
	if err != nil || len(recs) != len(want) {
		t.Fatalf("audit trail: %d records, %v; want %d", len(recs), err, len(want))
	}
	prev := make([]byte, 32)
	for _, r := range recs {
		if !bytes.Equal(r.Prev, prev) || !bytes.Equal(r.Sum(), r.Hash) {
			t.Errorf("record %d breaks the chain: %+v", r.Seq, r)
		}
		prev = r.Hash
	}
}

func checkTexts2(t *testing.T, s *Store, id string) {
	t.Helper()
	evs, err := s.Events(context.Background(), id, 0, 10)
	if err != nil || len(evs) != 2 || evs[1].Text != planted+" #2" {
		t.Errorf("%s: %+v, %v", id, evs, err)
	}
}

// TestBackupWhileWritingAndRestore copies the database while writers keep
// writing, restores the copy elsewhere and opens it with the KEK: every
// conversation of the copy reads whole, and no text is in the clear in it.
func TestBackupWhileWritingAndRestore(t *testing.T) {
	ctx := context.Background()
	kek := testKEK(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.db")
	s, err := Open(ctx, Config{Path: path, KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 20 {
		appendMessages(t, s, fmt.Sprintf("c%02d", i), 1, 20)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				appendMessages(t, s, fmt.Sprintf("w%d-%04d", w, i), 1, 10)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // let the writers run
	out := filepath.Join(dir, "backup.db")
	err = Backup(ctx, path, out)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, %v; want 0600", fi.Mode(), err)
	}
	if err := Backup(ctx, path, out); err == nil {
		t.Error("a backup over an existing file was made")
	}
	if f := filesHolding(t, dir, "quokka", "4111111111111111"); len(f) > 0 {
		t.Errorf("plain text in the backup or the database: %v", f)
	}

	restored := filepath.Join(t.TempDir(), "data", "gateway.db")
	if err := Restore(ctx, out, restored); err != nil {
		t.Fatal(err)
	}
	if err := Restore(ctx, out, restored); !errors.Is(err, ErrExists) {
		t.Errorf("restore over a database: %v, want ErrExists", err)
	}
	if _, err := Open(ctx, Config{Path: restored, KEK: testKEK(t)}); err == nil {
		t.Error("the restored copy opened with another KEK")
	}
	r, err := Open(ctx, Config{Path: restored, KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := range 20 {
		checkTexts(t, r, fmt.Sprintf("c%02d", i), 20)
	}
	// Whatever the writers had committed when the copy was taken is whole.
	var convs int
	rows, _ := r.db.Query(`SELECT id, (SELECT count(*) FROM events WHERE conversation = id) FROM conversations WHERE id LIKE 'w%'`)
	for rows.Next() {
		var id string
		var n int
		rows.Scan(&id, &n)
		if n != 10 {
			t.Errorf("%s has %d of its 10 messages in the backup: not one snapshot", id, n)
		}
		convs++
		checkTexts(t, r, id, 10)
	}
	rows.Close()
	t.Logf("the backup holds %d conversations written while it ran", convs)

	bad := filepath.Join(dir, "bad.db")
	os.WriteFile(bad, []byte("not a database"), 0o600)
	if err := Restore(ctx, bad, filepath.Join(t.TempDir(), "gateway.db")); err == nil {
		t.Error("a file that is not a database was restored")
	}
}
