package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secureinput/gateway/keys"
)

// testKEK is a key-encryption key made for one test.
func testKEK(t testing.TB) *keys.Local {
	t.Helper()
	k, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.db")
	s, err := Open(context.Background(), Config{Path: path, KEK: testKEK(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func TestConversationSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	kek := testKEK(t)
	path := filepath.Join(t.TempDir(), "gateway.db")
	s, err := Open(ctx, Config{Path: path, KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1_700_000_000_000)
	err = s.Write(ctx, "test", func(tx *Tx) error {
		if err := tx.CreateConversation(Conversation{ID: "c1", Service: "support", TokenHash: []byte{1, 2}, State: "waiting", Created: at}); err != nil {
			return err
		}
		if err := tx.AppendEvent(Event{Conversation: "c1", Seq: 1, Type: EventMessage, Author: "visitor", Text: "hello 4111 1111", At: at}); err != nil {
			return err
		}
		if err := tx.AppendEvent(Event{Conversation: "c1", Seq: 2, Type: "agent_joined", Author: "agent", AuthorName: "Ann", At: at}); err != nil {
			return err
		}
		if err := tx.AppendEvent(Event{Conversation: "c1", Seq: 3, Type: EventMessageUpdate, Ref: 1, Text: "hello #########", At: at}); err != nil {
			return err
		}
		return tx.SetState("c1", "active", "ann", time.Time{})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, Config{Path: path, KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Conversation(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.State != "active" || c.Agent != "ann" || c.LastSeq != 3 || c.Service != "support" || !c.Created.Equal(at) {
		t.Errorf("conversation after reopen = %+v", c)
	}
	evs, err := s.Events(ctx, "c1", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("got %d events, want 3", len(evs))
	}
	if evs[0].Text != "hello #########" || evs[2].Text != "hello #########" || evs[1].AuthorName != "Ann" {
		t.Errorf("events = %+v; want the message to carry its updated text", evs)
	}
	evs, _ = s.Events(ctx, "c1", 2, 100)
	if len(evs) != 1 || evs[0].Seq != 3 {
		t.Errorf("events since 2 = %+v, want only seq 3", evs)
	}
	open, _ := s.OpenConversations(ctx)
	if len(open) != 1 || open[0].ID != "c1" {
		t.Errorf("open conversations = %+v", open)
	}
	if err := s.Write(ctx, "test", func(tx *Tx) error { return tx.SetState("c1", "ended", "ann", at) }); err != nil {
		t.Fatal(err)
	}
	if open, _ := s.OpenConversations(ctx); len(open) != 0 {
		t.Errorf("open conversations after c1 ended = %+v, want none", open)
	}
	if c, _ := s.Conversation(ctx, "c1"); c.State != "ended" || !c.Ended.Equal(at) {
		t.Errorf("ended conversation = %+v, want state ended at %v", c, at)
	}
	if _, err := s.Conversation(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing conversation: err = %v, want ErrNotFound", err)
	}
}

func TestWritesShareCommitsAndFailAlone(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	defer s.Close()
	const n = 300
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Write(ctx, "test", func(tx *Tx) error {
				id := fmt.Sprintf("c%d", i)
				if i%10 == 0 {
					id = "dup" // all but the first of these fail: primary key
				}
				return tx.CreateConversation(Conversation{ID: id, Service: "s", TokenHash: []byte{0}, State: "waiting", Created: time.Now()})
			})
		}()
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed != n/10-1 {
		t.Errorf("%d writes failed, want %d (the duplicates only)", failed, n/10-1)
	}
	open, _ := s.OpenConversations(ctx)
	if len(open) != n-(n/10-1) {
		t.Errorf("%d conversations stored, want %d", len(open), n-(n/10-1))
	}
	st := s.Stats()
	if st.Writes != n || st.Commits >= n {
		t.Errorf("stats = %+v: want %d writes in fewer commits", st, n)
	}
}

func TestWriteAfterClose(t *testing.T) {
	s, _ := openTemp(t)
	s.Close()
	err := s.Write(context.Background(), "test", func(*Tx) error { return nil })
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
}

// BenchmarkAppendMessage appends chat messages from 64 concurrent writers
// (group commit), as the hub does under load.
func BenchmarkAppendMessage(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(context.Background(), Config{Path: filepath.Join(dir, "bench.db"), KEK: testKEK(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := Conversation{ID: fmt.Sprintf("c%d", next.Add(1)), Service: "support", TokenHash: []byte("h"), State: "active", Created: time.Now()}
		if err := s.Write(ctx, "create", func(tx *Tx) error { return tx.CreateConversation(c) }); err != nil {
			b.Error(err)
			return
		}
		id := c.ID
		var seq int64
		for pb.Next() {
			seq++
			e := Event{Conversation: id, Seq: seq, Type: EventMessage, Author: "visitor", Text: "hello, order 1234, card ###################", At: time.Now()}
			if err := s.Write(ctx, "append", func(tx *Tx) error { return tx.AppendEvent(e) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestConnectionSettings checks the pragmas every connection of the pool
// gets: the durability asked for, privacy settings, and temporary data in memory
// (a statement journal as a file costs a file descriptor per write batch
// and fails when a full house of websockets has taken them all).
func TestConnectionSettings(t *testing.T) {
	for durability, synchronous := range map[Durability]string{SurvivesPowerLoss: "2", SurvivesProcessCrash: "1"} {
		s, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "gateway.db"), Durability: durability, KEK: testKEK(t)})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		conns := make([]interface{ Close() error }, 0, maxConns)
		for range maxConns { // hold every connection so each one is checked
			c, err := s.db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			for pragma, want := range map[string]string{
				"journal_mode": "wal", "synchronous": synchronous, "foreign_keys": "1", "secure_delete": "1", "temp_store": "2",
			} {
				var got string
				if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("durability %d: PRAGMA %s = %s, want %s", durability, pragma, got, want)
				}
			}
		}
		for _, c := range conns {
			c.Close()
		}
		s.Close()
	}
}

// BenchmarkAppendSpread appends messages to 10,000 open conversations in
// turn from 4 writers, as a busy chat server does: small group commits
// and every write on a different part of the tables.
func BenchmarkAppendSpread(b *testing.B) {
	s, err := Open(context.Background(), Config{Path: filepath.Join(b.TempDir(), "bench.db"), KEK: testKEK(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const conversations = 10000
	err = s.Write(ctx, "create", func(tx *Tx) error {
		for i := range conversations {
			c := Conversation{ID: fmt.Sprintf("%016x", uint64(i)*0x9E3779B97F4A7C15), Service: "support", TokenHash: []byte("h"), State: "active", Created: time.Now()}
			if err := tx.CreateConversation(c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	seqs := make([]atomic.Int64, conversations)
	var next atomic.Int64
	b.SetParallelism(2) // 4 writers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1) % conversations)
			e := Event{Conversation: fmt.Sprintf("%016x", uint64(i)*0x9E3779B97F4A7C15), Seq: seqs[i].Add(1), Type: EventMessage,
				Author: "visitor", Text: "hello, order 1234, card ###################", At: time.Now()}
			if err := s.Write(ctx, "append", func(tx *Tx) error { return tx.AppendEvent(e) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
	st := s.Stats()
	b.ReportMetric(float64(st.Writes)/float64(st.Commits), "writes/commit")
}

// TestMigrationMovesBodiesIntoEvents builds a database at schema version 2
// (bodies in a messages table, last_seq kept in conversations), then opens
// it: the migrations move every body into its event and the transcript,
// updated message included, reads as before.
func TestMigrationMovesBodiesIntoEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"migrations/0001_chat.sql", "migrations/0002_mail.sql"} {
		body, err := migrations.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`PRAGMA user_version = 2`,
		`INSERT INTO conversations (id, service, token_hash, state, created_at, last_seq) VALUES ('c1', 'support', x'01', 'active', 1, 4)`,
		`INSERT INTO events (conversation, seq, type, author, at) VALUES ('c1', 1, 'waiting', 'system', 1)`,
		`INSERT INTO events (conversation, seq, type, author, client_id, at) VALUES ('c1', 2, 'message', 'visitor', 'm1', 2)`,
		`INSERT INTO messages (conversation, seq, body) VALUES ('c1', 2, CAST('my card is ####' AS BLOB))`,
		`INSERT INTO events (conversation, seq, type, author, at) VALUES ('c1', 3, 'message', 'visitor', 3)`,
		`INSERT INTO messages (conversation, seq, body) VALUES ('c1', 3, CAST('thanks' AS BLOB))`,
		`INSERT INTO events (conversation, seq, type, author, ref, at) VALUES ('c1', 4, 'message_update', 'visitor', 2, 4)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(context.Background(), Config{Path: path, KEK: testKEK(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c, err := s.Conversation(ctx, "c1")
	if err != nil || c.LastSeq != 4 {
		t.Fatalf("conversation = %+v, %v; want LastSeq 4", c, err)
	}
	evs, err := s.Events(ctx, "c1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%d %s %q", e.Seq, e.Type, e.Text))
	}
	want := []string{`1 waiting ""`, `2 message "my card is ####"`, `3 message "thanks"`, `4 message_update "my card is ####"`}
	if !slices.Equal(got, want) {
		t.Errorf("events after migration:\n%q\nwant\n%q", got, want)
	}
	var tables int
	if err := s.db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'messages'`).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("messages table still there (%d, %v)", tables, err)
	}
}
