package mail

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/secureinput/gateway/store"
)

var errInjected = errors.New("injected failure")

// fakeDelivery is a source folder and a destination folder in memory that
// fail at a chosen step, as maddy tests its delivery targets: failAt names
// the step ("fetch", "append", "remove", "flag", "delivered"), and for
// "append" failAfter copies are confirmed first; for "remove" the originals
// are removed and the reply is lost.
type fakeDelivery struct {
	source    map[imap.UID][]byte
	flags     map[imap.UID][]imap.Flag
	dest      [][]byte
	moved     []imap.UID
	failAt    string
	failAfter int
}

func (f *fakeDelivery) fail(step string) bool {
	if f.failAt == step {
		f.failAt = ""
		return true
	}
	return false
}

func (f *fakeDelivery) Fetch(_ context.Context, uids []imap.UID) ([]Fetched, error) {
	if f.fail("fetch") {
		return nil, errInjected
	}
	var out []Fetched
	for _, u := range uids {
		if b, ok := f.source[u]; ok {
			out = append(out, Fetched{UID: u, Body: b, Flags: f.flags[u]})
		}
	}
	return out, nil
}

func (f *fakeDelivery) Append(_ context.Context, copies []Copy) error {
	for i, c := range copies {
		if f.failAt == "append" && i == f.failAfter {
			f.failAt = ""
			return errInjected
		}
		f.dest = append(f.dest, c.Body)
	}
	return nil
}

func (f *fakeDelivery) Remove(_ context.Context, uids []imap.UID) error {
	for _, u := range uids {
		delete(f.source, u)
		f.moved = append(f.moved, u)
	}
	if f.fail("remove") {
		return errInjected // done, but the reply was lost
	}
	return nil
}

func (f *fakeDelivery) Flag(_ context.Context, uids []imap.UID, keyword string) error {
	if f.fail("flag") {
		return errInjected
	}
	for _, u := range uids {
		f.flags[u] = append(f.flags[u], imap.Flag(keyword))
	}
	return nil
}

func (f *fakeDelivery) Delivered(_ context.Context, tags []string) (map[string]bool, error) {
	if f.fail("delivered") {
		return nil, errInjected
	}
	there := map[string]bool{}
	for _, b := range f.dest {
		if t := tagOf(b); slices.Contains(tags, t) {
			there[t] = true
		}
	}
	return there, nil
}

// failingStore is the real store whose nth commit (counting from 1) fails.
type failingStore struct {
	*store.Store
	n, calls int
}

func (s *failingStore) Write(ctx context.Context, name string, fn func(*store.Tx) error) error {
	s.calls++
	if s.calls == s.n {
		return errInjected
	}
	return s.Store.Write(ctx, name, fn)
}

// runFake does what one session of the ingest does with the fake: read the
// state, take the messages above the last UID not flagged, cut them into
// batches of size and run them until one fails.
func runFake(ctx context.Context, g *Ingester, f *fakeDelivery, size int) error {
	st, err := g.store.MailState(ctx, g.cfg.Name)
	if err != nil {
		return err
	}
	var uids []imap.UID
	for u := range f.source {
		if uint32(u) > st.LastUID && !slices.Contains(f.flags[u], imap.Flag(g.cfg.FailedKeyword)) {
			uids = append(uids, u)
		}
	}
	slices.Sort(uids)
	sizes := map[imap.UID]int64{}
	for _, u := range uids {
		sizes[u] = batchBytes / int64(size) // size messages a batch
	}
	for _, b := range cutBatches(uids, sizes, st.PendingUID) {
		if _, _, err := g.batch(ctx, f, &st, b); err != nil {
			return err
		}
	}
	return nil
}

// TestBatchExactlyOnceAtEveryFailure fails each step of a batch in turn
// (fetch, flag, the pending commit, append after 0 and after 2 copies,
// remove, the done commit, the search for copies on recovery) and then lets
// the ingest run again: every message is delivered exactly once, every
// original is removed once its copy is there, and the unreadable one stays
// flagged.
func TestBatchExactlyOnceAtEveryFailure(t *testing.T) {
	type failure struct {
		step      string
		after     int
		commit    int // nth commit fails instead
		recovered string
	}
	var cases []failure
	for _, step := range []string{"fetch", "flag", "remove"} {
		cases = append(cases, failure{step: step})
	}
	cases = append(cases, failure{step: "append", after: 0}, failure{step: "append", after: 2},
		failure{commit: 1}, failure{commit: 2}, failure{commit: 3}, failure{commit: 4},
		failure{step: "append", after: 2, recovered: "delivered"})
	ctx := context.Background()
	for _, fc := range cases {
		name := fmt.Sprintf("%s-%d-commit%d-%s", fc.step, fc.after, fc.commit, fc.recovered)
		t.Run(name, func(t *testing.T) {
			st, err := store.Open(ctx, store.Config{Path: filepath.Join(t.TempDir(), "gw.db"), KEK: testKEK})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			fs := &failingStore{Store: st, n: fc.commit}
			g, err := NewIngester(MailboxConfig{Name: "box", Source: Endpoint{Addr: "127.0.0.1:143", TLS: TLSPlain},
				DestFolder: "Clean", After: "move", MoveTo: "Done", Unparsable: UnparsableFlag}, newRedactor(t), fs, nil)
			if err != nil {
				t.Fatal(err)
			}
			f := &fakeDelivery{source: map[imap.UID][]byte{}, flags: map[imap.UID][]imap.Flag{}, failAt: fc.step, failAfter: fc.after}
			const n = 9
			for i := 1; i <= n; i++ {
				f.source[imap.UID(i)] = []byte(fmt.Sprintf("Subject: m%d\r\n\r\ncard 4111 1111 1111 1111\r\n", i))
			}
			// One message beyond the limits: flagged, never delivered.
			f.source[5] = []byte("Subject: deep\r\n" + deepMessage(25))
			if err := runFake(ctx, g, f, 4); !errors.Is(err, errInjected) && fc.step != "" {
				t.Fatalf("first run: %v, want the injected failure", err)
			}
			f.failAt = fc.recovered
			if fc.recovered != "" {
				if err := runFake(ctx, g, f, 4); !errors.Is(err, errInjected) {
					t.Fatalf("second run: %v, want the injected failure", err)
				}
			}
			fs.n = 0
			if err := runFake(ctx, g, f, 4); err != nil {
				t.Fatalf("last run: %v", err)
			}
			count := map[string]int{}
			for _, b := range f.dest {
				if strings.Contains(string(b), "4111") {
					t.Error("a copy holds the card")
				}
				count[tagOf(b)]++
			}
			for i := 1; i <= n; i++ {
				tag := fmt.Sprintf("box/0/%d", i)
				want := 1
				if i == 5 {
					want = 0
				}
				if count[tag] != want {
					t.Errorf("%s delivered %d times, want %d", tag, count[tag], want)
				}
			}
			if len(f.source) != 1 || !slices.Contains(f.flags[5], imap.Flag(DefaultFailedKeyword)) {
				t.Errorf("source holds %d messages (want only the flagged one), flags of 5: %v", len(f.source), f.flags[5])
			}
			if len(f.moved) != n-1 {
				t.Errorf("%d originals removed, want %d", len(f.moved), n-1)
			}
			state, _ := st.MailState(ctx, "box")
			if state.LastUID != n || state.PendingUID != 0 {
				t.Errorf("state %+v", state)
			}
		})
	}
}

// deepMessage returns a body nested depth multiparts deep.
func deepMessage(depth int) string {
	var b strings.Builder
	for i := range depth {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=d%d\r\n\r\n--d%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\n4111 1111 1111 1111\r\n")
	return b.String()
}
