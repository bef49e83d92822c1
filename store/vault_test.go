package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The cards of these tests: numbers and expiries that no other test of
// the package writes, so a search of the files finds only these.
const (
	vaultNumber = "5555555555554444"
	vaultExpiry = "12/29"
)

// t0 is the clock of the vault tests: never the wall clock.
var t0 = time.Unix(1_700_000_000, 0)

// newToken is a token as the vault makes them.
func newToken(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "tok_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// vaultCard is a card of site kept for 30 days from created.
func vaultCard(t testing.TB, site, number, expiry string, created time.Time) VaultCard {
	return VaultCard{Token: newToken(t), Site: site, Brand: "Mastercard", Last4: number[len(number)-4:],
		Number: []byte(number), Expiry: []byte(expiry), Created: created, Expires: created.Add(30 * 24 * time.Hour)}
}

// openVault opens the store at path, its log in the returned buffer (read
// it after Close).
func openVault(t *testing.T, path string, kek KeyWrapper, previous ...KeyWrapper) (*Store, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	s, err := Open(context.Background(), Config{Path: path, KEK: kek, PreviousKEKs: previous,
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return s, &log
}

func keep(t *testing.T, s *Store, c VaultCard, unique bool) (string, bool) {
	t.Helper()
	token, created, err := s.KeepCard(context.Background(), c, unique, nil)
	if err != nil {
		t.Fatalf("KeepCard: %v", err)
	}
	return token, created
}

// checkCard reads token at now and compares it with want.
func checkCard(t *testing.T, s *Store, token string, now time.Time, want VaultCard) {
	t.Helper()
	got, err := s.Card(context.Background(), token, now)
	if err != nil {
		t.Fatalf("Card(%s): %v", token, err)
	}
	if got.Token != token || got.Site != want.Site || got.Brand != want.Brand || got.Last4 != want.Last4 ||
		!got.Created.Equal(want.Created) || !got.Expires.Equal(want.Expires) {
		t.Errorf("Card(%s) = %s %s %s %s %v %v; want %s %s %s %s %v %v", token, got.Token, got.Site, got.Brand, got.Last4, got.Created, got.Expires,
			token, want.Site, want.Brand, want.Last4, want.Created, want.Expires)
	}
	if !bytes.Equal(got.Number, want.Number) || !bytes.Equal(got.Expiry, want.Expiry) {
		t.Errorf("Card(%s): the number or expiry read back is not the one kept", token)
	}
}

// noSecrets fails if any of the texts holds a card number or expiry.
func noSecrets(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, text := range texts {
		for _, secret := range []string{vaultNumber, vaultExpiry, "5105105105105100", "01/31"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds a card's number or expiry: %q", what, text)
			}
		}
	}
}

// TestVaultKeepReadDrop: a card reads back as kept, a card without an
// expiry too; an unknown or dropped token is ErrNoCard; neither the log
// nor an error holds a number or an expiry.
func TestVaultKeepReadDrop(t *testing.T) {
	ctx := context.Background()
	s, log := openVault(t, filepath.Join(t.TempDir(), "vault.db"), testKEK(t))
	c := vaultCard(t, "shop", vaultNumber, vaultExpiry, t0)
	token, created := keep(t, s, c, true)
	if token != c.Token || !created {
		t.Fatalf("KeepCard = %s, %v; want the new token %s, created", token, created, c.Token)
	}
	checkCard(t, s, token, t0, c)

	bare := vaultCard(t, "shop", "5105105105105100", "", t0)
	bare.Expiry = nil
	keep(t, s, bare, true)
	got, err := s.Card(ctx, bare.Token, t0)
	if err != nil || string(got.Number) != "5105105105105100" || got.Expiry == nil || len(got.Expiry) != 0 {
		t.Errorf("a card without an expiry reads as %v, %v", got.Expiry, err)
	}
	if n, err := s.CardCount(ctx); err != nil || n != 2 {
		t.Errorf("CardCount = %d, %v; want 2", n, err)
	}

	var errs []string
	if _, err := s.Card(ctx, newToken(t), t0); !errors.Is(err, ErrNoCard) {
		t.Errorf("Card of an unknown token: %v, want ErrNoCard", err)
	}
	if err := s.DropCard(ctx, token, nil); err != nil {
		t.Fatalf("DropCard: %v", err)
	}
	if _, err := s.Card(ctx, token, t0); !errors.Is(err, ErrNoCard) {
		t.Errorf("Card of a dropped token: %v, want ErrNoCard", err)
	}
	if err := s.DropCard(ctx, token, nil); !errors.Is(err, ErrNoCard) {
		t.Errorf("DropCard again: %v, want ErrNoCard", err)
	}
	if n, _ := s.CardCount(ctx); n != 1 {
		t.Errorf("CardCount after the drop = %d, want 1", n)
	}
	for name, bad := range map[string]func(*VaultCard){
		"no token":   func(c *VaultCard) { c.Token = "" },
		"no site":    func(c *VaultCard) { c.Site = "" },
		"no number":  func(c *VaultCard) { c.Number = nil },
		"no expires": func(c *VaultCard) { c.Expires = time.Time{} },
	} {
		c := vaultCard(t, "shop", vaultNumber, vaultExpiry, t0)
		bad(&c)
		_, _, err := s.KeepCard(ctx, c, true, nil)
		if err == nil {
			t.Errorf("%s: kept", name)
			continue
		}
		errs = append(errs, err.Error())
	}
	s.Close()
	noSecrets(t, "an error", errs...)
	noSecrets(t, "the log", log.String())
	if !strings.Contains(log.String(), "new index key") {
		t.Errorf("the log does not say an index key was made:\n%s", log)
	}
}

// TestVaultUniquePerSite: the same card for the same site has one token,
// another site another; unique false makes a token each time; an expired
// card is not found again.
func TestVaultUniquePerSite(t *testing.T) {
	ctx := context.Background()
	s, _ := openVault(t, filepath.Join(t.TempDir(), "vault.db"), testKEK(t))
	defer s.Close()
	first, _ := keep(t, s, vaultCard(t, "shop", vaultNumber, vaultExpiry, t0), true)
	again, created := keep(t, s, vaultCard(t, "shop", vaultNumber, vaultExpiry, t0.Add(time.Hour)), true)
	if again != first || created {
		t.Errorf("the same card again: %s, created %v; want %s, not created", again, created, first)
	}
	other, created := keep(t, s, vaultCard(t, "other-shop", vaultNumber, vaultExpiry, t0), true)
	if other == first || !created {
		t.Errorf("the card for another site: %s, created %v; want a new token", other, created)
	}
	different, created := keep(t, s, vaultCard(t, "shop", "5105105105105100", vaultExpiry, t0), true)
	if different == first || !created {
		t.Errorf("another card for the site: %s, created %v; want a new token", different, created)
	}
	seen := map[string]bool{first: true}
	for range 2 {
		tok, created := keep(t, s, vaultCard(t, "shop", vaultNumber, vaultExpiry, t0), false)
		if seen[tok] || !created {
			t.Errorf("unique false: %s, created %v; want a new token each time", tok, created)
		}
		seen[tok] = true
	}
	if n, _ := s.CardCount(ctx); n != 5 {
		t.Errorf("CardCount = %d, want 5", n)
	}
	// Every card of shop's number expires 30 days after t0 + 1h at the
	// latest: a keep after that is a new card.
	late, created := keep(t, s, vaultCard(t, "shop", vaultNumber, vaultExpiry, t0.Add(31*24*time.Hour)), true)
	if seen[late] || !created {
		t.Errorf("the card after its tokens expired: %s, created %v; want a new token", late, created)
	}

	// The fingerprint is keyed: another vault gives the same card another.
	s2, _ := openVault(t, filepath.Join(t.TempDir(), "vault.db"), testKEK(t))
	defer s2.Close()
	keep(t, s2, vaultCard(t, "shop", vaultNumber, vaultExpiry, t0), true)
	if a, b := rawCardColumn(t, s, first, "fingerprint"), rawCardColumn(t, s2, "", "fingerprint"); bytes.Equal(a, b) || len(a) != 32 {
		t.Errorf("fingerprints of one card in two vaults: %x and %x; want 32 bytes, different", a, b)
	}
}

// rawCardColumn reads a column of the card of token (any card if "").
func rawCardColumn(t *testing.T, s *Store, token, col string) []byte {
	t.Helper()
	var b []byte
	if err := s.db.QueryRow(`SELECT `+col+` FROM vault_cards WHERE token = ? OR ? = ''`, token, token).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

func setRawCardBody(t *testing.T, s *Store, token string, b []byte) {
	t.Helper()
	if _, err := s.db.Exec(`UPDATE vault_cards SET body = ? WHERE token = ?`, b, token); err != nil {
		t.Fatal(err)
	}
}

// TestVaultConfirm: keeping a card already kept changes nothing (a session
// the validation service has not accepted yet, or never will, must not
// touch it); confirming it keeps it as long as asked, never shorter, and
// re-seals it only when the confirmed expiry differs; an empty expiry keeps
// the card's own; the audit record goes in the same transaction.
func TestVaultConfirm(t *testing.T) {
	ctx := context.Background()
	s, _ := openVault(t, filepath.Join(t.TempDir(), "vault.db"), testKEK(t))
	defer s.Close()
	c := vaultCard(t, "shop", vaultNumber, vaultExpiry, t0)
	token, _ := keep(t, s, c, true)
	body := rawCardColumn(t, s, token, "body")
	if got, _ := s.Card(ctx, token, t0); got.Kept {
		t.Error("a card kept before its validation reads as confirmed")
	}

	c2 := vaultCard(t, "shop", vaultNumber, "01/31", t0.Add(time.Hour))
	c2.Expires = t0.Add(90 * 24 * time.Hour)
	if tok, created := keep(t, s, c2, true); tok != token || created {
		t.Fatalf("re-keep: %s, %v; want %s, not created", tok, created, token)
	}
	checkCard(t, s, token, t0, c)
	if !bytes.Equal(rawCardColumn(t, s, token, "body"), body) {
		t.Error("a re-keep changed the card")
	}

	rec := AuditRecord{At: t0, Actor: "cc", Action: "card_confirm", Outcome: "success", Source: "local", Target: token}
	if err := s.ConfirmCard(ctx, token, nil, t0.Add(60*24*time.Hour), t0, &rec); err != nil {
		t.Fatal(err)
	}
	want := c
	want.Expires = t0.Add(60 * 24 * time.Hour)
	checkCard(t, s, token, t0, want)
	if !bytes.Equal(rawCardColumn(t, s, token, "body"), body) {
		t.Error("an empty expiry re-sealed the card")
	}
	if got, _ := s.Card(ctx, token, t0); !got.Kept {
		t.Error("a confirmed card does not read as kept")
	}
	if err := s.ConfirmCard(ctx, token, []byte("01/31"), t0.Add(40*24*time.Hour), t0, nil); err != nil {
		t.Fatal(err)
	}
	want.Expiry = []byte("01/31") // the expiry is the new one; the card is kept as long as before, not shorter
	checkCard(t, s, token, t0, want)
	if bytes.Equal(rawCardColumn(t, s, token, "body"), body) {
		t.Error("the body was not re-sealed with the confirmed expiry")
	}
	recs, err := s.AuditRecords(ctx, 0, 10)
	if err != nil || len(recs) != 1 || recs[0].Action != "card_confirm" || recs[0].Target != token {
		t.Errorf("audit records %+v, %v; want the confirmation's", recs, err)
	}

	checkCard(t, s, token, want.Expires.Add(-time.Millisecond), want)
	for name, now := range map[string]time.Time{"at its expiry": want.Expires, "after": want.Expires.Add(time.Hour)} {
		if _, err := s.Card(ctx, token, now); !errors.Is(err, ErrNoCard) {
			t.Errorf("Card %s: %v, want ErrNoCard", name, err)
		}
		if err := s.ConfirmCard(ctx, token, nil, now.Add(time.Hour), now, nil); !errors.Is(err, ErrNoCard) {
			t.Errorf("ConfirmCard %s: %v, want ErrNoCard", name, err)
		}
	}
}

// TestVaultPurgeLeavesNothing keeps cards and purges the expired ones: no
// file of the directory ever holds a number or an expiry, and after the
// purge none holds a purged card's sealed body or fingerprint.
func TestVaultPurgeLeavesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault.db")
	dir := filepath.Dir(path)
	s, _ := openVault(t, path, testKEK(t))
	old1 := vaultCard(t, "shop", vaultNumber, vaultExpiry, t0)
	old2 := vaultCard(t, "other", "5105105105105100", "01/31", t0.Add(time.Hour))
	live := vaultCard(t, "shop", "4000056655665556", "07/30", t0.Add(60*24*time.Hour))
	for _, c := range []VaultCard{old1, old2, live} {
		keep(t, s, c, true)
	}
	secrets := []string{vaultNumber, "5105105105105100", "4000056655665556", vaultExpiry, "01/31", "07/30"}
	if f := filesHolding(t, dir, secrets...); len(f) > 0 {
		t.Fatalf("a number or an expiry in the clear while the cards are kept: %v", f)
	}
	if f := filesHolding(t, dir, string(s.ring.indexKeys[1].key)); len(f) > 0 {
		t.Errorf("the index key in the clear: %v", f)
	}
	var traces []string
	for _, c := range []VaultCard{old1, old2} {
		traces = append(traces, string(rawCardColumn(t, s, c.Token, "body")), string(rawCardColumn(t, s, c.Token, "fingerprint")))
	}
	s.checkpoint(ctx)
	if f := filesHolding(t, dir, traces...); len(f) == 0 {
		t.Fatal("the search does not find the sealed bodies before the purge: it proves nothing")
	}

	n, err := s.PurgeCards(ctx, t0.Add(50*24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PurgeCards = %d, %v; want the 2 cards expired before the cut-off", n, err)
	}
	if n, _ := s.CardCount(ctx); n != 1 {
		t.Errorf("CardCount after the purge = %d, want 1", n)
	}
	checkCard(t, s, live.Token, t0.Add(60*24*time.Hour), live)
	for _, c := range []VaultCard{old1, old2} {
		if _, err := s.Card(ctx, c.Token, t0); !errors.Is(err, ErrNoCard) {
			t.Errorf("Card of a purged card: %v, want ErrNoCard", err)
		}
	}
	if f := filesHolding(t, dir, traces...); len(f) > 0 {
		t.Errorf("a purged card's sealed body or fingerprint is still on disk: %d finds", len(f))
	}
	if n, err := s.PurgeCards(ctx, t0.Add(50*24*time.Hour)); err != nil || n != 0 {
		t.Errorf("PurgeCards again = %d, %v; want 0", n, err)
	}
	s.Close()
	if f := filesHolding(t, dir, secrets...); len(f) > 0 {
		t.Errorf("a number or an expiry in the clear after Close: %v", f)
	}
}

// TestVaultMovedBodyDoesNotOpen: a card's body in another card's row, or an
// event's body in a card's row (and the other way), is ErrBody, saying no
// number.
func TestVaultMovedBodyDoesNotOpen(t *testing.T) {
	ctx := context.Background()
	s, _ := openVault(t, filepath.Join(t.TempDir(), "vault.db"), testKEK(t))
	defer s.Close()
	a := vaultCard(t, "shop", vaultNumber, vaultExpiry, t0)
	b := vaultCard(t, "shop", "5105105105105100", "01/31", t0)
	keep(t, s, a, true)
	keep(t, s, b, true)
	appendMessages(t, s, "c1", 1, 1)
	bodyA, bodyB, event := rawCardColumn(t, s, a.Token, "body"), rawCardColumn(t, s, b.Token, "body"), rawBody(t, s, "c1", 1)

	var errs []string
	for name, body := range map[string][]byte{"card a's body": bodyA, "an event's body": event, "truncated": bodyB[:len(bodyB)-1]} {
		setRawCardBody(t, s, b.Token, body)
		_, err := s.Card(ctx, b.Token, t0)
		if !errors.Is(err, ErrBody) {
			t.Errorf("card b with %s: %v, want ErrBody", name, err)
		} else {
			errs = append(errs, err.Error())
		}
		if _, _, err := s.KeepCard(ctx, b, true, nil); !errors.Is(err, ErrBody) {
			t.Errorf("re-keep of card b with %s: %v, want ErrBody", name, err)
		}
	}
	setRawCardBody(t, s, b.Token, bodyB)
	checkCard(t, s, b.Token, t0, b)
	setRawBody(t, s, "c1", 1, bodyA)
	if _, err := s.Events(ctx, "c1", 0, 10); !errors.Is(err, ErrBody) {
		t.Errorf("an event with a card's body: %v, want ErrBody", err)
	}
	noSecrets(t, "an error", errs...)
}

// keepMany keeps n cards of site in one transaction, numbers from first.
func keepMany(t *testing.T, s *Store, site string, first, n int) []VaultCard {
	t.Helper()
	var cards []VaultCard
	for i := range n {
		cards = append(cards, vaultCard(t, site, fmt.Sprintf("4000%012d", first+i), vaultExpiry, t0))
	}
	err := s.Write(context.Background(), "test", func(tx *Tx) error {
		for _, c := range cards {
			if _, _, err := tx.keepCard(c, true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return cards
}

// TestVaultRotateAndReseal: a rotation counts the cards, re-seals them after
// the events, resumes in the cards after a stop, and a key that still
// seals a card is not retired; every card reads after, and is found again.
func TestVaultRotateAndReseal(t *testing.T) {
	ctx := context.Background()
	kek := testKEK(t)
	path := filepath.Join(t.TempDir(), "vault.db")
	s, _ := openVault(t, path, kek)
	appendMessages(t, s, "c1", 1, 10)
	cards := keepMany(t, s, "shop", 0, 300)
	st, err := s.KeyStatus(ctx)
	if err != nil || len(st.Keys) != 1 || st.Keys[0].Bodies != 310 || st.Keys[0].Cards != 300 || st.Bodies != 310 || st.Cards != 300 {
		t.Fatalf("KeyStatus = %+v, %v; want key 1 sealing 310 bodies, 300 of them cards", st, err)
	}
	if target, err := s.Rotate(ctx, true); err != nil || target != 2 {
		t.Fatalf("Rotate = %d, %v; want data key 2", target, err)
	}

	stop := func() (context.Context, func(Progress)) {
		stopped, cancel := context.WithCancel(ctx)
		t.Cleanup(cancel)
		return stopped, func(Progress) { cancel() }
	}
	stopped, after := stop()
	var p Progress
	err = s.Reseal(stopped, func(q Progress) { p = q; after(q) })
	if !errors.Is(err, context.Canceled) || p.Done != 10 || p.Total != 310 || p.Finished {
		t.Fatalf("first chunk (the events): %+v, %v", p, err)
	}
	err = s.RetireKey(ctx, 1)
	if !errors.Is(err, ErrKeyInUse) || !strings.Contains(err.Error(), "300 cards") {
		t.Errorf("retire a key that seals cards only: %v, want ErrKeyInUse naming 300 cards", err)
	}
	stopped, after = stop()
	err = s.Reseal(stopped, func(q Progress) { p = q; after(q) })
	if !errors.Is(err, context.Canceled) || p.Done != 10+resealChunk || p.Finished {
		t.Fatalf("second chunk (cards): %+v, %v", p, err)
	}
	s.Close()

	s, _ = openVault(t, path, kek)
	defer s.Close()
	st, _ = s.KeyStatus(ctx)
	if st.Rotation == nil || st.Rotation.Done != 10+resealChunk || st.Keys[0].Cards != 300-resealChunk {
		t.Fatalf("after the stop: %+v, rotation %+v; want it at %d, %d cards left under key 1", st, st.Rotation, 10+resealChunk, 300-resealChunk)
	}
	// Half way, the cards' fingerprints are under two index keys: a card
	// not yet walked is still found under the old one, a walked one under
	// the new.
	if n := countWhere(t, s, "vault_cards", "index_key = 2"); n != resealChunk {
		t.Errorf("%d cards under index key 2 half way, want %d", n, resealChunk)
	}
	last := cards[len(cards)-1] // tokens are random: find one of each kind
	for _, c := range cards {
		if idx := rawCardColumn(t, s, c.Token, "index_key"); string(idx) == "1" {
			last = c
		}
	}
	if tok, created := keep(t, s, vaultCard(t, "shop", string(last.Number), vaultExpiry, t0), true); tok != last.Token || created {
		t.Errorf("a card not yet walked, kept again half way: %s, %v; want %s", tok, created, last.Token)
	}
	if err := s.Reseal(ctx, func(q Progress) { p = q }); err != nil || !p.Finished || p.Done != 310 {
		t.Fatalf("resumed: %+v, %v; want finished at 310", p, err)
	}
	st, _ = s.KeyStatus(ctx)
	if st.Rotation != nil || st.Keys[0].Bodies != 0 || st.Keys[0].Cards != 0 || st.Keys[1].Bodies != 310 || st.Keys[1].Cards != 300 {
		t.Fatalf("after the rotation: %+v", st)
	}
	if err := s.RetireKey(ctx, 1); err != nil {
		t.Fatalf("retire the old key: %v", err)
	}
	for _, c := range cards {
		checkCard(t, s, c.Token, t0, c)
	}
	checkTexts(t, s, "c1", 10)
	if tok, created := keep(t, s, vaultCard(t, "shop", string(cards[7].Number), vaultExpiry, t0), true); tok != cards[7].Token || created {
		t.Errorf("a card kept again after the rotation: %s, %v; want %s", tok, created, cards[7].Token)
	}
	// Every fingerprint moved to the new index key, and the old one is gone.
	if n := countWhere(t, s, "vault_cards", "index_key != 2"); n != 0 {
		t.Errorf("%d cards not under index key 2 after the rotation", n)
	}
	if n := countWhere(t, s, "index_keys", "1 = 1"); n != 1 {
		t.Errorf("%d index keys after the rotation, want 1 (the new one)", n)
	}
}

// countWhere counts the rows of table that satisfy cond.
func countWhere(t *testing.T, s *Store, table, cond string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM ` + table + ` WHERE ` + cond).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestVaultIndexKeySurvivesKEKChange re-wraps the index key under a new
// KEK (the old one as previous), then opens with the new one alone: the
// card is found again by its fingerprint.
func TestVaultIndexKeySurvivesKEKChange(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vault.db")
	old, neu := testKEK(t), testKEK(t)
	s, _ := openVault(t, path, old)
	c := vaultCard(t, "shop", vaultNumber, vaultExpiry, t0)
	keep(t, s, c, true)
	s.Close()

	if _, err := Open(ctx, Config{Path: path, KEK: neu}); err == nil || !strings.Contains(err.Error(), "index key") {
		t.Errorf("open with another KEK only: %v; want an error naming the index key", err)
	}
	s, _ = openVault(t, path, neu, old)
	if _, err := s.Rotate(ctx, false); err != nil {
		t.Fatal(err)
	}
	var kek string
	if err := s.db.QueryRow(`SELECT kek FROM index_keys`).Scan(&kek); err != nil || kek != neu.ID() {
		t.Errorf("index key wrapped by %q, %v; want %s", kek, err, neu.ID())
	}
	// In the same process, after the re-wrap, it is found as before.
	if tok, created := keep(t, s, vaultCard(t, "shop", vaultNumber, vaultExpiry, t0), true); tok != c.Token || created {
		t.Errorf("keep after the re-wrap: %s, %v; want %s", tok, created, c.Token)
	}
	s.Close()

	s, _ = openVault(t, path, neu)
	defer s.Close()
	if tok, created := keep(t, s, vaultCard(t, "shop", vaultNumber, vaultExpiry, t0), true); tok != c.Token || created {
		t.Errorf("keep with the new KEK alone: %s, %v; want %s, not created", tok, created, c.Token)
	}
	checkCard(t, s, c.Token, t0, c)
}

// TestVaultIndexKeyOfAFailedWrite: an index key made in a write that
// failed is gone with it. Another store on the file (another process) then
// makes the one kept, and this store finds its card by it, as does the
// next Open.
func TestVaultIndexKeyOfAFailedWrite(t *testing.T) {
	ctx := context.Background()
	kek := testKEK(t)
	path := filepath.Join(t.TempDir(), "vault.db")
	s, _ := openVault(t, path, kek)
	failed := errors.New("fails after the keep")
	err := s.Write(ctx, "test", func(tx *Tx) error {
		if _, _, err := tx.keepCard(vaultCard(t, "shop", vaultNumber, vaultExpiry, t0), true); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("write: %v", err)
	}
	other, _ := openVault(t, path, kek)
	c := vaultCard(t, "shop", vaultNumber, vaultExpiry, t0)
	if _, created := keep(t, other, c, true); !created {
		t.Fatal("the card of the failed write was kept")
	}
	other.Close()
	if tok, created := keep(t, s, vaultCard(t, "shop", vaultNumber, vaultExpiry, t0), true); tok != c.Token || created {
		t.Errorf("keep in the store whose write failed: %s, %v; want %s, not created", tok, created, c.Token)
	}
	s.Close()
	s, _ = openVault(t, path, kek)
	defer s.Close()
	if tok, created := keep(t, s, vaultCard(t, "shop", vaultNumber, vaultExpiry, t0), true); tok != c.Token || created {
		t.Errorf("keep after reopening: %s, %v; want %s, not created", tok, created, c.Token)
	}
}

// TestVaultConcurrentKeep keeps one card from many goroutines at once: one
// token, made once.
func TestVaultConcurrentKeep(t *testing.T) {
	ctx := context.Background()
	s, _ := openVault(t, filepath.Join(t.TempDir(), "vault.db"), testKEK(t))
	defer s.Close()
	const n = 16
	var wg sync.WaitGroup
	tokens := make([]string, n)
	made := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		c := vaultCard(t, "shop", vaultNumber, vaultExpiry, t0)
		wg.Go(func() { tokens[i], made[i], errs[i] = s.KeepCard(ctx, c, true, nil) })
	}
	wg.Wait()
	var created int
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("KeepCard %d: %v", i, errs[i])
		}
		if tokens[i] != tokens[0] {
			t.Errorf("KeepCard %d gave %s, another gave %s: want one token", i, tokens[i], tokens[0])
		}
		if made[i] {
			created++
		}
	}
	if cnt, _ := s.CardCount(ctx); created != 1 || cnt != 1 {
		t.Errorf("%d keeps said created, %d cards kept; want 1 and 1", created, cnt)
	}
}
