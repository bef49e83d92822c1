package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secureinput/gateway/store"
)

// endedConversation writes an ended conversation of visitor with one message.
func endedConversation(t *testing.T, st *store.Store, id, visitor string, ended time.Time) {
	t.Helper()
	err := st.Write(context.Background(), "test", func(tx *store.Tx) error {
		if err := tx.CreateConversation(store.Conversation{ID: id, Service: "support", TokenHash: []byte{1}, State: "ended", Created: ended, Visitor: visitor}); err != nil {
			return err
		}
		if err := tx.AppendEvent(store.Event{Conversation: id, Seq: 1, Type: store.EventMessage, Text: visitorSentence}); err != nil {
			return err
		}
		return tx.SetState(id, "ended", "", ended)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRetentionPurgesOnSchedule: with retention.transcripts set, the serving
// gateway purges what ended too long ago, keeps the rest, and audits it.
func TestRetentionPurgesOnSchedule(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	g := startDemo(t, data, "retention: {transcripts: 720h, interval: 1s}\n")
	defer g.Close()
	endedConversation(t, g.store, "old", "", time.Now().Add(-31*24*time.Hour))
	endedConversation(t, g.store, "recent", "", time.Now().Add(-29*24*time.Hour))
	ctx := context.Background()
	for i := 0; ; i++ {
		if _, err := g.store.Conversation(ctx, "old"); errors.Is(err, store.ErrNotFound) {
			break
		}
		if i > 200 {
			t.Fatal("the conversation past retention was never purged")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := g.store.Conversation(ctx, "recent"); err != nil {
		t.Errorf("a conversation within retention went: %v", err)
	}
	log, _ := g.store.Erasures(ctx)
	if len(log) != 1 || log[0].Action != store.AuditPurge || log[0].Actor != "retention" || log[0].Count != 1 {
		t.Errorf("audit log = %+v; want one purge by retention", log)
	}
}

// TestEraseBackupRestoreCommands: erase by conversation and by visitor, a
// backup taken while the gateway serves, and its restore into a new data
// directory that the gateway then opens with the original key file.
func TestEraseBackupRestoreCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	g := startDemo(t, data, "")
	now := time.Now()
	for i, v := range []string{"", "cust-7", "cust-7", "cust-8"} {
		endedConversation(t, g.store, fmt.Sprintf("c%d", i), v, now)
	}
	g.Close()

	if out, errs, code := runGateway(t, "", "erase", "--data", data, "--by", "dpo", "--conversation", "c0"); code != exitOK || !strings.Contains(out, "c0 erased") {
		t.Errorf("erase c0: %d %q %q", code, out, errs)
	}
	if out, errs, code := runGateway(t, "", "erase", "--data", data, "--visitor", "cust-7"); code != exitOK || !strings.Contains(out, "2 conversations") {
		t.Errorf("erase cust-7: %d %q %q", code, out, errs)
	}
	if _, _, code := runGateway(t, "", "erase", "--data", data); code != exitUsage {
		t.Errorf("erase with nothing to erase: exit %d, want %d", code, exitUsage)
	}

	g = startDemo(t, data, "")
	out := filepath.Join(dir, "backup.db")
	stdout, errs, code := runGateway(t, "", "backup", "--data", data, "--out", out)
	if code != exitOK || !strings.Contains(stdout, "still encrypted") {
		t.Fatalf("backup while serving: %d %q %q", code, stdout, errs)
	}
	endedConversation(t, g.store, "after", "", now) // not in the backup
	g.Close()
	if f := dataFilesHolding(t, dir); len(f) > 0 {
		t.Errorf("in the clear: %v", f)
	}

	restored := filepath.Join(dir, "restored")
	if _, errs, code := runGateway(t, "", "restore", "--in", out, "--data", restored); code != exitOK {
		t.Fatalf("restore: %d %q", code, errs)
	}
	if _, errs, code := runGateway(t, "", "restore", "--in", out, "--data", restored); code != exitFailure || !strings.Contains(errs, "already there") {
		t.Errorf("restore over a database: %d %q", code, errs)
	}
	key, _ := os.ReadFile(filepath.Join(data, keyFileName))
	os.WriteFile(filepath.Join(restored, keyFileName), key, 0o600)
	g = startDemo(t, restored, "")
	defer g.Close()
	ctx := context.Background()
	for id, want := range map[string]bool{"c0": false, "c1": false, "c2": false, "c3": true, "after": false} {
		_, err := g.store.Conversation(ctx, id)
		if (err == nil) != want {
			t.Errorf("restored %s: %v; want present %v", id, err, want)
		}
	}
	if evs, err := g.store.Events(ctx, "c3", 0, 10); err != nil || len(evs) != 1 || evs[0].Text != visitorSentence {
		t.Errorf("restored transcript: %+v, %v", evs, err)
	}
	log, _ := g.store.Erasures(ctx)
	if len(log) != 2 || log[0].Actor != "dpo" || log[1].Subject != store.VisitorSubject("cust-7") {
		t.Errorf("audit log in the backup: %+v", log)
	}
}
