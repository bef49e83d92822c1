package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secureinput/gateway/keys"
)

const planted = "the quokka sings at midnight 4111111111111111"

// appendMessages writes n messages of conversation conv, seq from first,
// each holding planted and its seq.
func appendMessages(t testing.TB, s *Store, conv string, first, n int64) {
	t.Helper()
	ctx := context.Background()
	err := s.Write(ctx, "test", func(tx *Tx) error {
		if first == 1 {
			if err := tx.CreateConversation(Conversation{ID: conv, Service: "s", TokenHash: []byte{1}, State: "active", Created: time.Now()}); err != nil {
				return err
			}
		}
		for seq := first; seq < first+n; seq++ {
			if err := tx.AppendEvent(Event{Conversation: conv, Seq: seq, Type: EventMessage, Author: "visitor", Text: fmt.Sprintf("%s #%d", planted, seq), At: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkTexts reads conversation conv and checks its n messages.
func checkTexts(t testing.TB, s *Store, conv string, n int) {
	t.Helper()
	evs, err := s.Events(context.Background(), conv, 0, n+10)
	if err != nil {
		t.Fatalf("reading %s: %v", conv, err)
	}
	if len(evs) != n {
		t.Fatalf("%s has %d events, want %d", conv, len(evs), n)
	}
	for _, e := range evs {
		if want := fmt.Sprintf("%s #%d", planted, e.Seq); e.Text != want {
			t.Fatalf("%s seq %d = %q, want %q", conv, e.Seq, e.Text, want)
		}
	}
}

// filesHolding lists the files of dir that hold any of needles.
func filesHolding(t testing.TB, dir string, needles ...string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				found = append(found, fmt.Sprintf("%s holds %q", p, n))
			}
		}
		return nil
	})
	return found
}

// TestBodiesAreSealedOnDisk writes messages and reads every byte of every
// file of the directory, open and after Close: no text in the clear.
func TestBodiesAreSealedOnDisk(t *testing.T) {
	s, path := openTemp(t)
	appendMessages(t, s, "c1", 1, 50)
	checkTexts(t, s, "c1", 50)
	dir := filepath.Dir(path)
	if f := filesHolding(t, dir, "quokka", "4111111111111111"); len(f) > 0 {
		t.Errorf("plain text on disk while open: %v", f)
	}
	for _, name := range []string{"gateway.db", "gateway.db-wal", "gateway.db-shm"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s while open: %v, %v; want mode 0600", name, fi.Mode(), err)
		}
	}
	s.Close()
	if f := filesHolding(t, dir, "quokka", "4111111111111111"); len(f) > 0 {
		t.Errorf("plain text on disk after Close: %v", f)
	}
}

// rawBody reads the stored bytes of a row.
func rawBody(t *testing.T, s *Store, conv string, seq int64) []byte {
	t.Helper()
	var b []byte
	if err := s.db.QueryRow(`SELECT body FROM events WHERE conversation = ? AND seq = ?`, conv, seq).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

func setRawBody(t *testing.T, s *Store, conv string, seq int64, b []byte) {
	t.Helper()
	if _, err := s.db.Exec(`UPDATE events SET body = ? WHERE conversation = ? AND seq = ?`, b, conv, seq); err != nil {
		t.Fatal(err)
	}
}

// TestTamperedBodyIsAnError flips every byte of a stored body in turn, moves a
// body to another row and truncates one: each read is ErrBody, never text.
func TestTamperedBodyIsAnError(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	appendMessages(t, s, "c1", 1, 2)
	appendMessages(t, s, "c2", 1, 1)
	ctx := context.Background()
	orig := rawBody(t, s, "c1", 1)
	if id, ok := bodyKey(orig); !ok || id == 0 {
		t.Fatalf("a stored body names no data key: % x", orig[:headerSize])
	}
	for i := range orig {
		bad := bytes.Clone(orig)
		bad[i] ^= 0x20
		setRawBody(t, s, "c1", 1, bad)
		evs, err := s.Events(ctx, "c1", 0, 10)
		if !errors.Is(err, ErrBody) && !strings.Contains(fmt.Sprint(err), "data key") {
			t.Fatalf("byte %d flipped: events = %+v, err = %v; want ErrBody", i, evs, err)
		}
	}
	for name, b := range map[string][]byte{
		"moved from c1 seq 2":  rawBody(t, s, "c1", 2),
		"moved from c2 seq 1":  rawBody(t, s, "c2", 1),
		"truncated":            orig[:len(orig)-1],
		"plain text":           []byte("\x00hello"),
		"header only":          orig[:headerSize],
		"a version of its own": append([]byte{2}, orig[1:]...),
	} {
		setRawBody(t, s, "c1", 1, b)
		if evs, err := s.Events(ctx, "c1", 0, 10); !errors.Is(err, ErrBody) {
			t.Errorf("%s: events = %+v, err = %v; want ErrBody", name, evs, err)
		}
	}
	setRawBody(t, s, "c1", 1, orig)
	checkTexts(t, s, "c1", 2)
}

// TestWrongOrMissingKEK opens a store with another KEK and with none: a
// clear error naming the data key and the KEK, and the database is as it
// was for the right key.
func TestWrongOrMissingKEK(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gateway.db")
	right := testKEK(t)
	s, err := Open(ctx, Config{Path: path, KEK: right})
	if err != nil {
		t.Fatal(err)
	}
	appendMessages(t, s, "c1", 1, 3)
	s.Close()
	wrong := testKEK(t)
	_, err = Open(ctx, Config{Path: path, KEK: wrong})
	var ke *KeyError
	if !errors.As(err, &ke) || ke.KeyID != 1 || ke.KEK != right.ID() || !strings.Contains(err.Error(), wrong.ID()) {
		t.Fatalf("open with another KEK: %v; want a KeyError naming data key 1, its KEK %s and the configured %s", err, right.ID(), wrong.ID())
	}
	if _, err := Open(ctx, Config{Path: path}); err == nil || !strings.Contains(err.Error(), "KEK") {
		t.Errorf("open with no KEK: %v", err)
	}
	infos, err := KeyInfo(ctx, path)
	if err != nil || len(infos) != 1 || infos[0].KEK != right.ID() {
		t.Errorf("KeyInfo = %+v, %v; want data key 1 under %s", infos, err, right.ID())
	}
	s, err = Open(ctx, Config{Path: path, KEK: right})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkTexts(t, s, "c1", 3)
}

// TestKeyRotatesByCount gives a data key a budget of 50 encryptions: the
// writes go on under new keys, and every body reads back.
func TestKeyRotatesByCount(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	s.ring.block, s.ring.room, s.ring.rot.MaxEncryptions = 10, 3, 50
	for i := range int64(30) {
		appendMessages(t, s, "c1", 1+i*5, 5)
	}
	checkTexts(t, s, "c1", 150)
	st, err := s.KeyStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Keys) < 3 {
		t.Fatalf("%d data keys after 150 encryptions with a budget of 50: %+v", len(st.Keys), st.Keys)
	}
	var bodies int64
	for _, k := range st.Keys {
		if k.Encryptions > 50 {
			t.Errorf("data key %d reserved %d encryptions, over its budget of 50", k.ID, k.Encryptions)
		}
		if k.Bodies > 50 {
			t.Errorf("data key %d seals %d bodies, over its budget of 50", k.ID, k.Bodies)
		}
		bodies += k.Bodies
	}
	if bodies != 150 || st.Bodies != 150 {
		t.Errorf("keys seal %d bodies, status says %d; want 150", bodies, st.Bodies)
	}
}

// TestKeyRotatesByAge moves the clock past the key's age: the next write
// makes a new key.
func TestKeyRotatesByAge(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	path := filepath.Join(t.TempDir(), "gateway.db")
	s, err := Open(context.Background(), Config{Path: path, KEK: testKEK(t), Now: func() time.Time { return now },
		Rotation: Rotation{MaxAge: 24 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendMessages(t, s, "c1", 1, 2)
	now = now.Add(23 * time.Hour)
	appendMessages(t, s, "c1", 3, 2)
	now = now.Add(2 * time.Hour)
	appendMessages(t, s, "c1", 5, 2)
	st, _ := s.KeyStatus(context.Background())
	if len(st.Keys) != 2 || st.Keys[0].Bodies != 4 || st.Keys[1].Bodies != 2 || !st.Keys[1].Current {
		t.Errorf("keys = %+v; want key 1 with 4 bodies and key 2, current, with 2", st.Keys)
	}
	checkTexts(t, s, "c1", 6)
}

// TestRotateResumesAndRetires rotates, stops the re-encryption after its
// first chunk (as a kill would), resumes it in a new store, and retires
// the old key: every body ends under the new key and reads as before.
func TestRotateResumesAndRetires(t *testing.T) {
	ctx := context.Background()
	kek := testKEK(t)
	path := filepath.Join(t.TempDir(), "gateway.db")
	s, err := Open(ctx, Config{Path: path, KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	appendMessages(t, s, "a", 1, 400)
	appendMessages(t, s, "b", 1, 300)
	if err := s.Reseal(ctx, nil); !errors.Is(err, ErrNoRotation) {
		t.Errorf("Reseal with no rotation: %v, want ErrNoRotation", err)
	}
	target, err := s.Rotate(ctx, true)
	if err != nil || target != 2 {
		t.Fatalf("Rotate = %d, %v; want data key 2", target, err)
	}
	if err := s.RetireKey(ctx, 1); !errors.Is(err, ErrKeyInUse) {
		t.Errorf("retire a key in use: %v, want ErrKeyInUse", err)
	}
	stopped, cancel := context.WithCancel(ctx)
	var first Progress
	err = s.Reseal(stopped, func(p Progress) { first = p; cancel() })
	if !errors.Is(err, context.Canceled) || first.Done != resealChunk || first.Total != 700 || first.Finished {
		t.Fatalf("first chunk: %+v, %v", first, err)
	}
	appendMessages(t, s, "a", 401, 5) // written while the rotation is under way
	s.Close()

	s, err = Open(ctx, Config{Path: path, KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, _ := s.KeyStatus(ctx)
	if st.Rotation == nil || st.Rotation.Done != resealChunk || st.Rotation.Target != 2 {
		t.Fatalf("rotation after the stop: %+v; want it to stand at %d", st.Rotation, resealChunk)
	}
	var last Progress
	var calls int
	if err := s.Reseal(ctx, func(p Progress) { last = p; calls++ }); err != nil {
		t.Fatal(err)
	}
	if !last.Finished || last.Done < 705 || calls < 2 {
		t.Errorf("resumed run ended at %+v after %d chunks", last, calls)
	}
	st, _ = s.KeyStatus(ctx)
	if st.Rotation != nil || len(st.Keys) != 2 || st.Keys[0].Bodies != 0 || st.Keys[1].Bodies != 705 {
		t.Fatalf("after the rotation: %+v", st)
	}
	checkTexts(t, s, "a", 405)
	checkTexts(t, s, "b", 300)
	if err := s.RetireKey(ctx, 2); !errors.Is(err, ErrKeyInUse) {
		t.Errorf("retire the current key: %v, want ErrKeyInUse", err)
	}
	if err := s.RetireKey(ctx, 1); err != nil {
		t.Fatalf("retire the unused key: %v", err)
	}
	if err := s.RetireKey(ctx, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("retire it again: %v, want ErrNotFound", err)
	}
	checkTexts(t, s, "b", 300)
}

// TestRewrapUnderNewKEK moves the data keys to a new KEK with the old one
// as previous, then opens with the new one alone.
func TestRewrapUnderNewKEK(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gateway.db")
	old, neu := testKEK(t), testKEK(t)
	s, err := Open(ctx, Config{Path: path, KEK: old})
	if err != nil {
		t.Fatal(err)
	}
	appendMessages(t, s, "c1", 1, 3)
	s.Close()
	s, err = Open(ctx, Config{Path: path, KEK: neu, PreviousKEKs: []KeyWrapper{old}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(ctx, false); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, Config{Path: path, KEK: neu})
	if err != nil {
		t.Fatalf("open with the new KEK alone after re-wrapping: %v", err)
	}
	defer s.Close()
	checkTexts(t, s, "c1", 3)
	infos, _ := KeyInfo(ctx, path)
	if len(infos) != 1 || infos[0].KEK != neu.ID() {
		t.Errorf("keys = %+v, want data key 1 under %s", infos, neu.ID())
	}
}

// TestLegacyBodiesAreSealedAtOpen builds a database of schema version 4
// (bodies in the clear) and opens it: every body is sealed, reads as
// before, and the text is in no file.
func TestLegacyBodiesAreSealedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(db, 4); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO conversations (id, service, token_hash, state, created_at) VALUES ('c1', 'support', x'01', 'active', 1)`,
		`INSERT INTO events (conversation, seq, type, author, at, body) VALUES ('c1', 1, 'message', 'visitor', 1, CAST('` + planted + ` #1' AS BLOB))`,
		`INSERT INTO events (conversation, seq, type, author, at, body) VALUES ('c1', 2, 'message', 'visitor', 1, CAST('` + planted + ` #2' AS BLOB))`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(context.Background(), Config{Path: path, KEK: testKEK(t)})
	if err != nil {
		t.Fatal(err)
	}
	checkTexts(t, s, "c1", 2)
	st, _ := s.KeyStatus(context.Background())
	if st.Unsealed != 0 || st.Rotation != nil {
		t.Errorf("after open: %+v", st)
	}
	s.Close()
	if f := filesHolding(t, filepath.Dir(path), "quokka"); len(f) > 0 {
		t.Errorf("plain text left after sealing: %v", f)
	}
}

// migrateTo applies the embedded migrations up to version n.
func migrateTo(db *sql.DB, n int) error {
	for i := 1; i <= n; i++ {
		names, _ := migrations.ReadDir("migrations")
		for _, e := range names {
			if strings.HasPrefix(e.Name(), fmt.Sprintf("%04d_", i)) {
				body, _ := migrations.ReadFile("migrations/" + e.Name())
				if _, err := db.Exec(string(body)); err != nil {
					return fmt.Errorf("%s: %w", e.Name(), err)
				}
			}
		}
	}
	_, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", n))
	return err
}

// BenchmarkSealOpen seals and opens one chat message.
func BenchmarkSealOpen(b *testing.B) {
	kek, _ := keys.Generate()
	s, err := Open(context.Background(), Config{Path: filepath.Join(b.TempDir(), "gateway.db"), KEK: kek})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	text := "hello, order 1234, card ###################"
	ctx := context.Background()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	err = s.Write(ctx, "bench", func(tx *Tx) error {
		s.ring.limit = 1 << 40 // one transaction seals them all
		for b.Loop() {
			sealed, err := tx.sealBody("c0123456789abcdef", 42, text)
			if err != nil {
				return err
			}
			if got, err := s.openBody(ctx, "c0123456789abcdef", 42, sealed); err != nil || got != text {
				return fmt.Errorf("open = %q, %v", got, err)
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
