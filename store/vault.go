package store

// The card vault's rows (issue 23). A vault process opens a store of its
// own and keeps here the cards it tokenizes: number and expiry sealed like
// every body (body.go), bound to the row "vault/"+token, under the data
// keys of the ring, so rotation, retirement, backups and `gateway keys`
// cover them unchanged. The security code is never given to the store.
//
// The same card for the same site is found again by a fingerprint,
// HMAC-SHA256 under an index key of the site and the number: a plain hash
// of a card number can be reversed by trying every number of a BIN range,
// a keyed one cannot without the key. Index keys (indexkeys.go) are
// random, kept only wrapped by the KEK, and replaced by a rotation, which
// computes every fingerprint again. Tokens are the caller's (random); nothing
// here derives anything from the number but the fingerprint.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// cardRowPrefix makes the row name a card's body is bound to: a
// conversation id (lower-case base32) never holds a "/".
const cardRowPrefix = "vault/"

// cardRow is the row name of the body of the card of token.
func cardRow(token string) string { return cardRowPrefix + token }

// VaultCard is one card kept in the vault.
type VaultCard struct {
	Token, Site, Brand, Last4 string
	Number, Expiry            []byte // plain: the caller wipes them
	Created, Expires          time.Time
	Kept                      bool // confirmed (ConfirmCard), not only pending
}

// ErrNoCard: no card has that token (or it expired).
var ErrNoCard = errors.New("store: no card has that token (or it expired)")

// check says what a card to keep lacks, never its number or expiry.
func (c *VaultCard) check() error {
	switch {
	case c.Token == "":
		return errors.New("store: keep card: empty token")
	case c.Site == "":
		return errors.New("store: keep card: empty site")
	case len(c.Number) == 0:
		return errors.New("store: keep card: empty number")
	case c.Created.IsZero() || c.Expires.IsZero():
		return errors.New("store: keep card: Created and Expires must be set")
	}
	return nil
}

// CardRecord makes the audit record of a keep, once its token is known
// (created: a new card), for KeepCard to append in its transaction.
type CardRecord func(token string, created bool) AuditRecord

// KeepCard stores c as a pending card (Token is a fresh random token the
// caller made; Created is now and Expires the pending card's deadline, the
// caller's; ConfirmCard keeps it for good). With unique true and a live card
// (pending or kept: Expires after c.Created) of the same number for the
// same site, it changes nothing and returns that card's token with created
// false. If record is not nil, its record is appended to the audit trail in
// the same transaction: kept if and only if recorded.
func (s *Store) KeepCard(ctx context.Context, c VaultCard, unique bool, record CardRecord) (token string, created bool, err error) {
	if err := c.check(); err != nil {
		return "", false, err
	}
	// The lookup and the insert run in one write transaction: the writer
	// runs writes one after the other, so two keeps of the same card at
	// once end with one token.
	err = s.Write(ctx, "keep card", func(tx *Tx) error {
		var err error
		if token, created, err = tx.keepCard(c, unique); err != nil {
			return err
		}
		if record == nil {
			return nil
		}
		return tx.AppendChained(record(token, created))
	})
	if err != nil {
		return "", false, fmt.Errorf("store: keep card: %w", err)
	}
	return token, created, nil
}

func (tx *Tx) keepCard(c VaultCard, unique bool) (string, bool, error) {
	keys, err := tx.indexKeys()
	if err != nil {
		return "", false, err
	}
	if unique {
		// Under every index key: while a rotation runs, cards not yet
		// walked still have their fingerprint under the one before.
		for _, k := range keys {
			var token string
			var body []byte
			err := tx.queryRow(`SELECT token, body FROM vault_cards WHERE site = ? AND index_key = ? AND fingerprint = ? AND expires_at > ?
				ORDER BY created_at, token LIMIT 1`, c.Site, k.id, fingerprint(k.key, c.Site, c.Number), millis(c.Created)).Scan(&token, &body)
			switch {
			case err == nil:
				return token, false, tx.sameNumber(token, body, c.Number)
			case !errors.Is(err, sql.ErrNoRows):
				return "", false, err
			}
		}
	}
	fp := fingerprint(keys[0].key, c.Site, c.Number)
	plain := encodeCard(c.Number, c.Expiry)
	defer clear(plain)
	sealed, err := tx.seal(cardRow(c.Token), 0, plain)
	if err != nil {
		return "", false, err
	}
	_, err = tx.exec(`INSERT INTO vault_cards (token, site, index_key, fingerprint, brand, last4, body, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.Token, c.Site, keys[0].id, fp, c.Brand, c.Last4, sealed, millis(c.Created), millis(c.Expires))
	if err != nil {
		return "", false, err
	}
	return c.Token, true, nil
}

// sameNumber checks that the card of token (whose body is body), found by
// its fingerprint, holds number.
func (tx *Tx) sameNumber(token string, body, number []byte) error {
	plain, err := tx.store.open(tx.ctx, cardRow(token), 0, body)
	if err != nil {
		return err
	}
	defer clear(plain)
	kept, _, err := decodeCard(plain)
	if err != nil {
		return fmt.Errorf("vault card %s: %w", token, err)
	}
	if subtle.ConstantTimeCompare(kept, number) != 1 {
		// Two numbers of one fingerprint: an altered table, not chance.
		return fmt.Errorf("vault card %s: its fingerprint matches another number: %w", token, ErrBody)
	}
	return nil
}

// ConfirmCard keeps the live card of token for good, until expires, once
// the validation service accepted it: its state becomes kept and, if expiry
// is not empty and differs from the one kept, the card is re-sealed with it
// (a session that was not accepted never changes a card). ErrNoCard if no
// live card (Expires after now) has that token. The record, if not nil, is
// appended to the audit trail in the same transaction.
func (s *Store) ConfirmCard(ctx context.Context, token string, expiry []byte, expires, now time.Time, record *AuditRecord) error {
	err := s.Write(ctx, "confirm card", func(tx *Tx) error {
		var body []byte
		err := tx.queryRow(`SELECT body FROM vault_cards WHERE token = ? AND expires_at > ?`, token, millis(now)).Scan(&body)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoCard
		}
		if err != nil {
			return err
		}
		if len(expiry) > 0 {
			if body, err = tx.resealExpiry(token, body, expiry); err != nil {
				return err
			}
		}
		if _, err := tx.exec(`UPDATE vault_cards SET body = ?, kept = 1, expires_at = max(expires_at, ?) WHERE token = ?`,
			body, millis(expires), token); err != nil {
			return err
		}
		if record == nil {
			return nil
		}
		return tx.AppendChained(*record)
	})
	if err != nil {
		return fmt.Errorf("store: confirm card: %w", err)
	}
	return nil
}

// resealExpiry returns the body of the card of token with expiry, sealed
// again if it differs from the one in body.
func (tx *Tx) resealExpiry(token string, body, expiry []byte) ([]byte, error) {
	plain, err := tx.store.open(tx.ctx, cardRow(token), 0, body)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	number, kept, err := decodeCard(plain)
	if err != nil {
		return nil, fmt.Errorf("vault card %s: %w", token, err)
	}
	if bytes.Equal(kept, expiry) {
		return body, nil
	}
	fresh := encodeCard(number, expiry)
	defer clear(fresh)
	return tx.seal(cardRow(token), 0, fresh)
}

// Card returns the live card of token (Expires after now), ErrNoCard
// otherwise.
func (s *Store) Card(ctx context.Context, token string, now time.Time) (VaultCard, error) {
	c := VaultCard{Token: token}
	var body []byte
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT site, brand, last4, body, created_at, expires_at, kept FROM vault_cards
		WHERE token = ? AND expires_at > ?`, token, millis(now)).Scan(&c.Site, &c.Brand, &c.Last4, &body, &created, &expires, &c.Kept)
	if errors.Is(err, sql.ErrNoRows) {
		return VaultCard{}, ErrNoCard
	}
	if err != nil {
		return VaultCard{}, fmt.Errorf("store: card: %w", err)
	}
	plain, err := s.open(ctx, cardRow(token), 0, body)
	if err != nil {
		return VaultCard{}, fmt.Errorf("store: card: %w", err)
	}
	defer clear(plain)
	number, expiry, err := decodeCard(plain)
	if err != nil {
		return VaultCard{}, fmt.Errorf("store: vault card %s: %w", token, err)
	}
	c.Number, c.Expiry = bytes.Clone(number), bytes.Clone(expiry)
	if c.Expiry == nil {
		c.Expiry = []byte{}
	}
	c.Created, c.Expires = time.UnixMilli(created), time.UnixMilli(expires)
	return c, nil
}

// DropCard removes the card of token (an erasure on request); ErrNoCard
// if there is none. The record, if not nil, is appended to the audit trail
// in the same transaction.
func (s *Store) DropCard(ctx context.Context, token string, record *AuditRecord) error {
	err := s.Write(ctx, "drop card", func(tx *Tx) error {
		res, err := tx.exec(`DELETE FROM vault_cards WHERE token = ?`, token)
		if err != nil {
			return fmt.Errorf("store: drop card: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: drop card: %w", err)
		}
		if n == 0 {
			return ErrNoCard
		}
		if record == nil {
			return nil
		}
		return tx.AppendChained(*record)
	})
	if err == nil {
		s.checkpoint(ctx)
	}
	return err
}

// PurgeCards removes every card whose expiry is not after cutoff
// (secure_delete, in small transactions, WAL truncated after, like Purge),
// returns how many.
func (s *Store) PurgeCards(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.Write(ctx, "purge cards", func(tx *Tx) error {
			res, err := tx.exec(`DELETE FROM vault_cards WHERE token IN
				(SELECT token FROM vault_cards WHERE expires_at <= ? LIMIT ?)`, millis(cutoff), purgeChunk)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("store: purge cards: %w", err)
		}
		total += n
		if n < purgeChunk {
			break
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
	if total > 0 {
		s.checkpoint(ctx)
	}
	return total, nil
}

// CardCount is how many cards are kept (for metrics and status).
func (s *Store) CardCount(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM vault_cards`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: card count: %w", err)
	}
	return n, nil
}

// encodeCard is the plain text of a card's body: the number and the expiry,
// each after its length (uvarint).
func encodeCard(number, expiry []byte) []byte {
	b := make([]byte, 0, 2*binary.MaxVarintLen64+len(number)+len(expiry))
	b = binary.AppendUvarint(b, uint64(len(number)))
	b = append(b, number...)
	b = binary.AppendUvarint(b, uint64(len(expiry)))
	return append(b, expiry...)
}

// decodeCard is the inverse of encodeCard; number and expiry alias b.
func decodeCard(b []byte) (number, expiry []byte, err error) {
	bad := errors.New("its body is not a card")
	field := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, bad
		}
		f := b[k : k+int(n)]
		b = b[k+int(n):]
		return f, nil
	}
	if number, err = field(); err != nil {
		return nil, nil, err
	}
	if expiry, err = field(); err != nil {
		return nil, nil, err
	}
	if len(b) != 0 || len(number) == 0 {
		return nil, nil, bad
	}
	return number, expiry, nil
}

// fingerprint is the HMAC-SHA256 under key of the site (after its length,
// so no site and number run into another pair) and the number.
func fingerprint(key []byte, site string, number []byte) []byte {
	m := hmac.New(sha256.New, key)
	var n [binary.MaxVarintLen64]byte
	m.Write(n[:binary.PutUvarint(n[:], uint64(len(site)))])
	m.Write([]byte(site))
	m.Write(number)
	return m.Sum(nil)
}

func indexKeyError(kek, reason string) error {
	return fmt.Errorf("store: the vault's index key (wrapped by key-encryption key %s): %s", kek, reason)
}
