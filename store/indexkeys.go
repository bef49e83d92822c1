package store

// The vault's index keys: the keys of the cards' fingerprints (vault.go).
// The first is made with the first card. Rotate makes a new one beside the
// new data key, and Reseal, which opens every card to seal it again, also
// computes its fingerprint under the newest index key; once it has walked
// every card, the older index keys, which nothing uses any more, are
// removed. Each is kept only wrapped by the KEK, re-wrapped by Rotate like
// the data keys, and unwrapped once into the ring's cache.

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
)

// indexKey is one index key, unwrapped.
type indexKey struct {
	id  int64
	key []byte
}

// cachedIndexKey is an index key unwrapped, and the wrapped form it was
// read as.
type cachedIndexKey struct {
	wrapped, key []byte
}

// indexKeys returns the vault's index keys, the newest first, making the
// first if there is none. The rows are read in every transaction that
// needs them, so a key made by a transaction that did not commit, or
// re-wrapped by another process, is not used from the cache: it is
// unwrapped again only if its wrapped form changed.
func (tx *Tx) indexKeys() ([]indexKey, error) {
	r := tx.store.ring
	all, err := scanWrappedKeys(tx.query(`SELECT id, kek, wrapped FROM index_keys ORDER BY id DESC`))
	if err != nil {
		return nil, fmt.Errorf("store: the vault's index keys: %w", err)
	}
	if len(all) == 0 {
		k, err := tx.createIndexKey(1)
		if err != nil {
			return nil, err
		}
		return []indexKey{k}, nil
	}
	keys := make([]indexKey, len(all))
	for i, k := range all {
		if c, ok := r.indexKeys[k.id]; ok && bytes.Equal(c.wrapped, k.wrapped) {
			keys[i] = indexKey{k.id, c.key}
			continue
		}
		key, reason := r.unwrapKey(tx.ctx, k.kek, k.wrapped)
		if key == nil {
			return nil, indexKeyError(k.kek, reason)
		}
		r.cacheIndexKey(k.id, k.wrapped, key)
		keys[i] = indexKey{k.id, key}
	}
	return keys, nil
}

// createIndexKey makes index key id, wrapped by the KEK.
func (tx *Tx) createIndexKey(id int64) (indexKey, error) {
	r := tx.store.ring
	key := make([]byte, dataKeySize)
	if _, err := rand.Read(key); err != nil {
		return indexKey{}, fmt.Errorf("store: new index key: %w", err)
	}
	wrapped, err := r.kek.Wrap(tx.ctx, key)
	if err != nil {
		clear(key)
		return indexKey{}, fmt.Errorf("store: wrap the new index key with %s: %w", r.kek.ID(), err)
	}
	if _, err := tx.exec(`INSERT INTO index_keys (id, kek, wrapped, created_at) VALUES (?, ?, ?, ?)`,
		id, r.kek.ID(), wrapped, millis(r.now())); err != nil {
		clear(key)
		return indexKey{}, fmt.Errorf("store: new index key: %w", err)
	}
	r.cacheIndexKey(id, wrapped, key)
	tx.store.log.Info("store: new index key of the vault", "index_key", id, "kek", r.kek.ID())
	return indexKey{id, key}, nil
}

// rotateIndexKey makes a new index key if the store has any (Rotate with
// a new data key): Reseal moves every card's fingerprint to it.
func (tx *Tx) rotateIndexKey() error {
	var newest sql.NullInt64
	if err := tx.queryRow(`SELECT max(id) FROM index_keys`).Scan(&newest); err != nil {
		return fmt.Errorf("store: the vault's index keys: %w", err)
	}
	if !newest.Valid {
		return nil // not a vault, or no card yet
	}
	_, err := tx.createIndexKey(newest.Int64 + 1)
	return err
}

// refingerprint moves the card of token, whose plain body is plain, to the
// index key k (Reseal).
func (tx *Tx) refingerprint(token string, plain []byte, k indexKey) error {
	number, _, err := decodeCard(plain)
	if err != nil {
		return fmt.Errorf("vault card %s: %w", token, err)
	}
	var site string
	if err := tx.queryRow(`SELECT site FROM vault_cards WHERE token = ?`, token).Scan(&site); err != nil {
		return err
	}
	_, err = tx.exec(`UPDATE vault_cards SET index_key = ?, fingerprint = ? WHERE token = ?`, k.id, fingerprint(k.key, site, number), token)
	return err
}

// retireIndexKeys removes the index keys older than the newest that no
// card uses (the end of a Reseal).
func (tx *Tx) retireIndexKeys() error {
	res, err := tx.exec(`DELETE FROM index_keys WHERE id < (SELECT max(id) FROM index_keys)
		AND id NOT IN (SELECT DISTINCT index_key FROM vault_cards)`)
	if err != nil {
		return fmt.Errorf("store: retire index keys: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		tx.store.log.Info("store: older index keys of the vault removed", "keys", n)
	}
	return nil
}

// rewrapIndexKeys wraps every index key under the current KEK (Rotate).
func (tx *Tx) rewrapIndexKeys() error {
	r := tx.store.ring
	olds, err := scanWrappedKeys(tx.query(`SELECT id, kek, wrapped FROM index_keys WHERE kek != ?`, r.kek.ID()))
	if err != nil {
		return fmt.Errorf("store: the vault's index keys: %w", err)
	}
	for _, o := range olds {
		key, reason := r.unwrapKey(tx.ctx, o.kek, o.wrapped)
		if key == nil {
			return indexKeyError(o.kek, reason+": it cannot be re-wrapped")
		}
		w, err := r.kek.Wrap(tx.ctx, key)
		if err != nil {
			clear(key)
			return fmt.Errorf("store: re-wrap the vault's index key %d with %s: %w", o.id, r.kek.ID(), err)
		}
		if _, err := tx.exec(`UPDATE index_keys SET kek = ?, wrapped = ? WHERE id = ?`, r.kek.ID(), w, o.id); err != nil {
			clear(key)
			return err
		}
		r.cacheIndexKey(o.id, w, key)
		tx.store.log.Info("store: the vault's index key re-wrapped", "index_key", o.id, "from", o.kek, "to", r.kek.ID())
	}
	return nil
}

// loadIndexKeys unwraps the index keys at Open: a key that cannot be used
// is an error at start-up, as a data key's is.
func (r *ring) loadIndexKeys(ctx context.Context, db *sql.DB) error {
	all, err := scanWrappedKeys(db.QueryContext(ctx, `SELECT id, kek, wrapped FROM index_keys`))
	if err != nil {
		return fmt.Errorf("store: the vault's index keys: %w", err)
	}
	for _, k := range all {
		key, reason := r.unwrapKey(ctx, k.kek, k.wrapped)
		if key == nil {
			return indexKeyError(k.kek, reason)
		}
		r.cacheIndexKey(k.id, k.wrapped, key)
	}
	return nil
}

// cacheIndexKey keeps index key id, read as wrapped, wiping the one it
// replaces.
func (r *ring) cacheIndexKey(id int64, wrapped, key []byte) {
	if old, ok := r.indexKeys[id]; ok && &old.key[0] != &key[0] {
		clear(old.key)
	}
	r.indexKeys[id] = cachedIndexKey{wrapped: wrapped, key: key}
}
