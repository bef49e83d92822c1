package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DataKey is what the store says of one data key: never the key.
type DataKey struct {
	ID          int64
	KEK         string // the ID of the KEK that wraps it
	Created     time.Time
	Encryptions int64 // an upper bound: encryptions reserved under it
	Bodies      int64 // bodies sealed under it now, the vault's cards included
	Cards       int64 // of those, the vault's cards
	Current     bool  // it seals new bodies
}

// KeyStatus is the key table and the rotation under way, if any.
type KeyStatus struct {
	Keys     []DataKey
	Rotation *Progress // nil if none is under way
	Bodies   int64     // every stored body, the vault's cards included
	Cards    int64     // of those, the vault's cards
	Unsealed int64     // bodies not sealed (written before encryption): 0 once open
}

// KeyInfo reads the key table of the database at path without unwrapping
// anything: the KEK IDs a store needs, for a start-up check that runs
// before the KEK is at hand. A missing file has no keys.
func KeyInfo(ctx context.Context, path string) ([]DataKey, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'data_keys'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if n == 0 {
		return nil, nil
	}
	return dataKeys(ctx, db)
}

func dataKeys(ctx context.Context, db *sql.DB) ([]DataKey, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, kek, created_at, uses FROM data_keys ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: data keys: %w", err)
	}
	defer rows.Close()
	var out []DataKey
	for rows.Next() {
		var k DataKey
		var created int64
		if err := rows.Scan(&k.ID, &k.KEK, &created, &k.Encryptions); err != nil {
			return nil, err
		}
		k.Created = time.UnixMilli(created)
		out = append(out, k)
	}
	if len(out) > 0 {
		out[len(out)-1].Current = true
	}
	return out, rows.Err()
}

// KeyStatus reports every data key, how many bodies (and of them, cards
// of the vault) each seals, and the rotation under way. It reads every
// body's header.
func (s *Store) KeyStatus(ctx context.Context) (KeyStatus, error) {
	var st KeyStatus
	var err error
	if st.Keys, err = dataKeys(ctx, s.db); err != nil {
		return st, err
	}
	bodies, err := s.bodiesByKey(ctx, `SELECT substr(body, 1, 5), count(*) FROM events WHERE body IS NOT NULL GROUP BY 1`)
	if err != nil {
		return st, err
	}
	cards, err := s.bodiesByKey(ctx, `SELECT substr(body, 1, 5), count(*) FROM vault_cards GROUP BY 1`)
	if err != nil {
		return st, err
	}
	st.Cards = cards.total
	st.Bodies = bodies.total + cards.total
	st.Unsealed = bodies.unsealed + cards.unsealed
	for i := range st.Keys {
		id := st.Keys[i].ID
		st.Keys[i].Cards = cards.byKey[id]
		st.Keys[i].Bodies = bodies.byKey[id] + cards.byKey[id]
	}
	var p Progress
	err = s.db.QueryRowContext(ctx, `SELECT target, done, total FROM key_rotation WHERE id = 1`).Scan(&p.Target, &p.Done, &p.Total)
	if err == nil {
		st.Rotation = &p
	} else if !errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("store: key status: %w", err)
	}
	return st, nil
}

// keyCounts is how many bodies of a table each data key seals.
type keyCounts struct {
	byKey           map[int64]int64
	unsealed, total int64
}

// bodiesByKey counts bodies by the data key they name; query gives each
// header (the first 5 bytes of a body) with its count.
func (s *Store) bodiesByKey(ctx context.Context, query string) (keyCounts, error) {
	c := keyCounts{byKey: map[int64]int64{}}
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return c, fmt.Errorf("store: key status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		var n int64
		if err := rows.Scan(&h, &n); err != nil {
			return c, fmt.Errorf("store: key status: %w", err)
		}
		c.total += n
		if len(h) == headerSize && h[0] == sealedVersion {
			c.byKey[int64(h[1])<<24|int64(h[2])<<16|int64(h[3])<<8|int64(h[4])] += n
		} else {
			c.unsealed += n
		}
	}
	return c, rows.Err()
}

// RetireKey removes data key id from the key table, only when nothing uses
// it: not the current key, no body (nor card of the vault) sealed under
// it, no rotation targeting it. Otherwise ErrKeyInUse, saying why.
func (s *Store) RetireKey(ctx context.Context, id int64) error {
	return s.Write(ctx, "retire key", func(tx *Tx) error {
		var n int64
		if err := tx.queryRow(`SELECT count(*) FROM data_keys WHERE id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("store: data key %d: %w", id, ErrNotFound)
		}
		if id == tx.store.ring.cur {
			return fmt.Errorf("%w: data key %d seals new bodies (rotate first)", ErrKeyInUse, id)
		}
		header := []byte{sealedVersion, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
		if err := tx.queryRow(`SELECT count(*) FROM events WHERE body IS NOT NULL AND substr(body, 1, 5) = ?`, header).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %d bodies are sealed under data key %d (run gateway keys rotate to the end)", ErrKeyInUse, n, id)
		}
		if err := tx.queryRow(`SELECT count(*) FROM vault_cards WHERE substr(body, 1, 5) = ?`, header).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %d cards of the vault are sealed under data key %d (run gateway keys rotate to the end)", ErrKeyInUse, n, id)
		}
		if err := tx.queryRow(`SELECT count(*) FROM key_rotation WHERE target = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: a rotation re-encrypts under data key %d", ErrKeyInUse, id)
		}
		if _, err := tx.exec(`DELETE FROM data_keys WHERE id = ?`, id); err != nil {
			return err
		}
		tx.store.ring.mu.Lock()
		delete(tx.store.ring.keys, id)
		tx.store.ring.mu.Unlock()
		tx.store.log.Info("store: data key retired", "key", id)
		return nil
	})
}
