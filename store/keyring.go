package store

// The key ring: the data keys that seal bodies, each wrapped by a
// key-encryption key (KEK) in the data_keys table, and the one that seals
// new bodies (the newest). AES-GCM with random 96-bit nonces is safe for at
// most 2^32 encryptions under one key (NIST SP 800-38D §8.3), so each key
// counts its encryptions: the writer reserves them in blocks, recorded in
// data_keys.uses in the same transaction as the bodies sealed under them,
// so a crash can only over-count. A key that reaches Rotation.MaxEncryptions
// or Rotation.MaxAge is replaced by a new one at the start of a batch;
// older keys stay for reading until `gateway keys rotate` has re-encrypted
// their bodies and `gateway keys retire` removes them.
//
// Another process (the keys command, while the gateway serves) may add a
// key: every batch reads the newest key inside its write transaction (which
// takes the write lock first, BEGIN IMMEDIATE), so once a new key is
// committed nothing is sealed under an older one.

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// KeyWrapper is a key-encryption key: it wraps and unwraps data keys.
// keys.KEK implements it; the store never sees the KEK's bytes.
type KeyWrapper interface {
	ID() string
	Wrap(ctx context.Context, dataKey []byte) ([]byte, error)
	Unwrap(ctx context.Context, wrapped []byte) ([]byte, error)
}

// Rotation bounds the life of a data key: a new one seals new bodies once
// the current one made MaxEncryptions encryptions or is MaxAge old.
type Rotation struct {
	MaxEncryptions int64         // DefaultMaxEncryptions if zero; at most MaxEncryptionsLimit
	MaxAge         time.Duration // DefaultMaxKeyAge if zero
}

// Limits of a data key's life.
const (
	// DefaultMaxEncryptions is a quarter of the 2^32 bound.
	DefaultMaxEncryptions = 1 << 30
	// MaxEncryptionsLimit keeps a reservation block below 2^32.
	MaxEncryptionsLimit = 1<<32 - reserveBlock
	// DefaultMaxKeyAge is 90 days.
	DefaultMaxKeyAge = 90 * 24 * time.Hour
	// reserveBlock is how many encryptions a writer reserves at a time;
	// headroom is the least it has left at the start of a batch.
	reserveBlock = 1 << 16
	headroom     = 1 << 13
	dataKeySize  = 32
)

// Errors of the key ring.
var (
	// ErrKeyBudget: a batch sealed more bodies than it had reserved.
	ErrKeyBudget = errors.New("store: data key encryption budget of this batch used up")
	// ErrKeyInUse: RetireKey on a key that still seals bodies.
	ErrKeyInUse = errors.New("store: data key in use")
)

// KeyError is a data key that cannot be used: its KEK is not configured or
// does not unwrap it. The message names the key id and KEK ID, never a key.
type KeyError struct {
	KeyID  int64
	KEK    string // the KEK ID that wrapped it
	Reason string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("store: data key %d (wrapped by key-encryption key %s): %s", e.KeyID, e.KEK, e.Reason)
}

type ring struct {
	kek  KeyWrapper
	keks map[string]KeyWrapper // by ID: kek and the previous ones
	rot  Rotation
	now  func() time.Time
	// block and room are reserveBlock and headroom (smaller in tests).
	block, room int64

	mu   sync.RWMutex
	keys map[int64]cipher.AEAD

	// The writer's: the key that seals, and the part of its budget this
	// process reserved, [used, limit).
	cur         int64
	curAEAD     cipher.AEAD
	used, limit int64
	pending     []int64 // keys made in the transaction under way

	// The vault's index keys (indexkeys.go) by id, unwrapped: loaded at
	// Open, then only the writer touches them.
	indexKeys map[int64]cachedIndexKey
}

func newRing(cfg Config) (*ring, error) {
	if cfg.KEK == nil {
		return nil, errors.New("store: Config.KEK is nil: bodies are never stored unencrypted")
	}
	r := &ring{kek: cfg.KEK, keks: map[string]KeyWrapper{}, rot: cfg.Rotation, now: cfg.Now, keys: map[int64]cipher.AEAD{},
		block: reserveBlock, room: headroom, indexKeys: map[int64]cachedIndexKey{}}
	if r.now == nil {
		r.now = time.Now
	}
	if r.rot.MaxEncryptions == 0 {
		r.rot.MaxEncryptions = DefaultMaxEncryptions
	}
	if r.rot.MaxAge == 0 {
		r.rot.MaxAge = DefaultMaxKeyAge
	}
	if r.rot.MaxEncryptions < reserveBlock || r.rot.MaxEncryptions > MaxEncryptionsLimit {
		return nil, fmt.Errorf("store: Rotation.MaxEncryptions %d: want %d to %d", r.rot.MaxEncryptions, reserveBlock, int64(MaxEncryptionsLimit))
	}
	if r.rot.MaxAge < time.Minute {
		return nil, fmt.Errorf("store: Rotation.MaxAge %v: want at least a minute", r.rot.MaxAge)
	}
	for _, k := range append([]KeyWrapper{cfg.KEK}, cfg.PreviousKEKs...) {
		if k == nil {
			return nil, errors.New("store: Config.PreviousKEKs holds nil")
		}
		if _, dup := r.keks[k.ID()]; !dup {
			r.keks[k.ID()] = k
		}
	}
	return r, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// unwrap opens the wrapped data key id with the KEK that wrapped it.
func (r *ring) unwrap(ctx context.Context, id int64, kekID string, wrapped []byte) (cipher.AEAD, error) {
	dk, reason := r.unwrapKey(ctx, kekID, wrapped)
	if dk == nil {
		return nil, &KeyError{KeyID: id, KEK: kekID, Reason: reason}
	}
	defer clear(dk)
	return newAEAD(dk)
}

// unwrapKey opens a key (a data key or the vault's index key) wrapped by
// the KEK kekID; reason says why it did not (dk nil). The caller wipes dk.
func (r *ring) unwrapKey(ctx context.Context, kekID string, wrapped []byte) (dk []byte, reason string) {
	k, ok := r.keks[kekID]
	if !ok {
		return nil, fmt.Sprintf("that key-encryption key is not configured (configured: %s)", r.configured())
	}
	dk, err := k.Unwrap(ctx, wrapped)
	if err != nil {
		return nil, "does not unwrap: a different key under the same name, or an altered key table"
	}
	if len(dk) != dataKeySize {
		clear(dk)
		return nil, "unwraps to a key of the wrong size"
	}
	return dk, ""
}

func (r *ring) configured() string {
	s := r.kek.ID()
	for id := range r.keks {
		if id != r.kek.ID() {
			s += ", " + id
		}
	}
	return s
}

// wrappedKey is a row of data_keys or index_keys: a key as stored, wrapped
// by the KEK named kek.
type wrappedKey struct {
	id      int64
	kek     string
	wrapped []byte
}

// scanWrappedKeys reads the (id, kek, wrapped) rows of a query's result.
func scanWrappedKeys(rows *sql.Rows, err error) ([]wrappedKey, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []wrappedKey
	for rows.Next() {
		var k wrappedKey
		if err := rows.Scan(&k.id, &k.kek, &k.wrapped); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// loadAll unwraps every data key: a key that cannot be used is an error
// at start-up, not at the first read of one of its bodies.
func (r *ring) loadAll(ctx context.Context, db *sql.DB) error {
	all, err := scanWrappedKeys(db.QueryContext(ctx, `SELECT id, kek, wrapped FROM data_keys ORDER BY id`))
	if err != nil {
		return fmt.Errorf("store: data keys: %w", err)
	}
	var errs []error
	for _, k := range all {
		a, err := r.unwrap(ctx, k.id, k.kek, k.wrapped)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.mu.Lock()
		r.keys[k.id] = a
		r.mu.Unlock()
	}
	if err := r.loadIndexKeys(ctx, db); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// aead is data key id, for reading; a key another process added since Open
// is loaded from the table.
func (r *ring) aead(ctx context.Context, db *sql.DB, id int64) (cipher.AEAD, error) {
	r.mu.RLock()
	a := r.keys[id]
	r.mu.RUnlock()
	if a != nil {
		return a, nil
	}
	var kek string
	var wrapped []byte
	err := db.QueryRowContext(ctx, `SELECT kek, wrapped FROM data_keys WHERE id = ?`, id).Scan(&kek, &wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: data key %d is not in the key table (retired, or the table was altered)", id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: data key %d: %w", id, err)
	}
	if a, err = r.unwrap(ctx, id, kek, wrapped); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.keys[id] = a
	r.mu.Unlock()
	return a, nil
}

// prepare runs at the start of every write transaction, before any write
// of the batch: it follows a key made by another process, rotates by age
// and count, and reserves encryptions in the same transaction as the
// bodies that will use them.
func (r *ring) prepare(tx *Tx) error {
	var id, created, uses int64
	err := tx.queryRow(`SELECT id, created_at, uses FROM data_keys ORDER BY id DESC LIMIT 1`).Scan(&id, &created, &uses)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: current data key: %w", err)
	}
	now := r.now()
	if errors.Is(err, sql.ErrNoRows) || now.Sub(time.UnixMilli(created)) >= r.rot.MaxAge {
		if id, err = r.create(tx, now); err != nil {
			return err
		}
		uses = 0
	}
	if id != r.cur {
		a, err := r.aead(tx.ctx, tx.store.db, id)
		if err != nil {
			return err
		}
		r.cur, r.curAEAD, r.used, r.limit = id, a, 0, 0
	}
	if r.limit-r.used >= r.room {
		return nil
	}
	if uses+r.block > r.rot.MaxEncryptions {
		if id, err = r.create(tx, now); err != nil {
			return err
		}
		if r.curAEAD, err = r.aead(tx.ctx, tx.store.db, id); err != nil {
			return err
		}
		r.cur = id
	}
	var end int64
	if err := tx.queryRow(`UPDATE data_keys SET uses = uses + ? WHERE id = ? RETURNING uses`, r.block, r.cur).Scan(&end); err != nil {
		return fmt.Errorf("store: reserve encryptions of data key %d: %w", r.cur, err)
	}
	r.used, r.limit = end-r.block, end
	return nil
}

// create makes a new data key, wrapped by the KEK, and returns its id.
func (r *ring) create(tx *Tx, now time.Time) (int64, error) {
	dk := make([]byte, dataKeySize)
	defer clear(dk)
	if _, err := rand.Read(dk); err != nil {
		return 0, fmt.Errorf("store: new data key: %w", err)
	}
	wrapped, err := r.kek.Wrap(tx.ctx, dk)
	if err != nil {
		return 0, fmt.Errorf("store: wrap a new data key with %s: %w", r.kek.ID(), err)
	}
	var id int64
	if err := tx.queryRow(`INSERT INTO data_keys (kek, wrapped, created_at) VALUES (?, ?, ?) RETURNING id`,
		r.kek.ID(), wrapped, now.UnixMilli()).Scan(&id); err != nil {
		return 0, fmt.Errorf("store: new data key: %w", err)
	}
	a, err := newAEAD(dk)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.keys[id] = a
	r.mu.Unlock()
	r.pending = append(r.pending, id)
	tx.store.log.Info("store: new data key", "key", id, "kek", r.kek.ID())
	return id, nil
}

// abandon forgets the writer's reservation after a transaction that did
// not commit: its keys and reservations are gone with it.
func (r *ring) abandon() {
	r.cur, r.curAEAD, r.used, r.limit = 0, nil, 0, 0
	r.mu.Lock()
	for _, id := range r.pending {
		delete(r.keys, id) // its id may be given to another key
	}
	r.mu.Unlock()
	r.pending = r.pending[:0]
}

// committed keeps the keys made in the transaction that committed.
func (r *ring) committed() { r.pending = r.pending[:0] }
