package store

// Re-encryption. Rotate makes a new data key (re-wrapping every data key
// under the current KEK first) and records a job in key_rotation; Reseal
// walks every body in primary-key order, the events' and then the vault's
// cards', in chunks of one small transaction each, and re-seals under the
// newest key each body that is under another one, moving the job's cursor
// in the same transaction. A killed run leaves the cursor where its last
// chunk committed: the next Reseal (the keys command again, or the gateway
// at start-up) goes on from there. Bodies written while it runs are sealed
// under the newest key already, so when the cursor reaches the end every
// body is under it.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"
)

// resealChunk is how many rows one transaction of Reseal visits: small
// enough that the gateway's writes, waiting behind it, are not held long.
const resealChunk = 256

// Progress is where a re-encryption stands.
type Progress struct {
	Done, Total int64         // bodies visited, bodies when it started
	Rate        float64       // bodies a second in this run
	Left        time.Duration // estimated, at Rate
	Target      int64         // the data key bodies are sealed under
	Finished    bool
}

// ErrNoRotation: Reseal found no re-encryption to run.
var ErrNoRotation = errors.New("store: no key rotation under way")

// Rotate starts a rotation: every data key (and the vault's index key)
// wrapped by a previous KEK is re-wrapped under the current one, a new data key is made, and a job to
// re-encrypt every body under it is recorded; Reseal runs it. With newKey
// false only the re-wrapping is done. It returns the new key's id (0
// without one); a job already under way is replaced by one for the new key.
func (s *Store) Rotate(ctx context.Context, newKey bool) (int64, error) {
	var id int64
	err := s.Write(ctx, "rotate keys", func(tx *Tx) error {
		if err := tx.rewrap(); err != nil {
			return err
		}
		if !newKey {
			return nil
		}
		var err error
		if id, err = s.ring.create(tx, s.ring.now()); err != nil {
			return err
		}
		if err := tx.rotateIndexKey(); err != nil {
			return err
		}
		var total int64
		if err := tx.queryRow(`SELECT (SELECT count(*) FROM events WHERE body IS NOT NULL) + (SELECT count(*) FROM vault_cards)`).Scan(&total); err != nil {
			return err
		}
		_, err = tx.exec(`INSERT OR REPLACE INTO key_rotation (id, target, total, started_at) VALUES (1, ?, ?, ?)`, id, total, millis(s.ring.now()))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: rotate: %w", err)
	}
	return id, nil
}

// rewrap wraps every data key, and the vault's index key, under the
// current KEK.
func (tx *Tx) rewrap() error {
	r := tx.store.ring
	olds, err := scanWrappedKeys(tx.query(`SELECT id, kek, wrapped FROM data_keys WHERE kek != ?`, r.kek.ID()))
	if err != nil {
		return err
	}
	for _, o := range olds {
		k, ok := r.keks[o.kek]
		if !ok {
			return &KeyError{KeyID: o.id, KEK: o.kek, Reason: "that key-encryption key is not configured: it cannot be re-wrapped"}
		}
		dk, err := k.Unwrap(tx.ctx, o.wrapped)
		if err != nil {
			return &KeyError{KeyID: o.id, KEK: o.kek, Reason: "does not unwrap"}
		}
		w, err := r.kek.Wrap(tx.ctx, dk)
		clear(dk)
		if err != nil {
			return fmt.Errorf("store: re-wrap data key %d with %s: %w", o.id, r.kek.ID(), err)
		}
		if _, err := tx.exec(`UPDATE data_keys SET kek = ?, wrapped = ? WHERE id = ?`, r.kek.ID(), w, o.id); err != nil {
			return err
		}
		tx.store.log.Info("store: data key re-wrapped", "key", o.id, "from", o.kek, "to", r.kek.ID())
	}
	return tx.rewrapIndexKeys()
}

// Reseal runs the rotation under way, calling progress (if not nil) after
// every chunk, until every body is under the newest data key, or ctx ends
// (the job then stays, to resume). ErrNoRotation if there is none.
func (s *Store) Reseal(ctx context.Context, progress func(Progress)) error {
	start := time.Now()
	var startDone int64 = -1
	for {
		var p Progress
		var job bool
		err := s.Write(ctx, "reseal", func(tx *Tx) error {
			var err error
			job, p, err = tx.resealChunk()
			return err
		})
		if err != nil {
			return fmt.Errorf("store: re-encrypt: %w", err)
		}
		if !job {
			if startDone < 0 {
				return ErrNoRotation
			}
			return nil
		}
		if startDone < 0 {
			startDone = p.Done
		}
		if el := time.Since(start).Seconds(); el > 0 {
			p.Rate = float64(p.Done-startDone) / el
			if p.Rate > 0 && p.Total > p.Done {
				p.Left = time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second))
			}
		}
		if progress != nil {
			progress(p)
		}
		if p.Finished {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// resealTables are the tables a re-encryption walks, in this order, each
// in the order of its primary key. A row is named by a key and a seq: its
// conversation and seq in events, its token and 0 in vault_cards. Both
// tables' queries take the same parameters, so that one loop walks both.
var resealTables = []struct {
	name   string
	rows   string // ?1 key, ?2 seq, ?3 size: the chunk after (key, seq), as key, seq, body, index key
	update string // ?1 body, ?2 key, ?3 seq: a row's new body
	legacy bool   // may hold bodies written before encryption
	cards  bool   // the vault's cards: their fingerprints move to the newest index key too
	// row is the name of the row a body of key is bound to (body.go).
	row func(key string) string
}{
	{
		name: "events",
		rows: `SELECT conversation, seq, body, 0 FROM events WHERE (conversation, seq) > (?1, ?2) AND body IS NOT NULL
			ORDER BY conversation, seq LIMIT ?3`,
		update: `UPDATE events SET body = ?1 WHERE conversation = ?2 AND seq = ?3`,
		legacy: true,
		row:    func(conversation string) string { return conversation },
	},
	{
		name:   "vault_cards",
		rows:   `SELECT token, 0, body, index_key FROM vault_cards WHERE token > ?1 AND ?2 = 0 ORDER BY token LIMIT ?3`,
		update: `UPDATE vault_cards SET body = ?1 WHERE token = ?2 AND ?3 = 0`,
		cards:  true,
		row:    cardRow,
	},
}

// resealChunk re-seals the next chunk of the job under the newest key and
// moves its cursor; at the end of a table it moves the cursor to the start
// of the next one, at the end of the last it removes the job. job is false
// if there was none.
func (tx *Tx) resealChunk() (job bool, p Progress, err error) {
	var tbl, key string
	var seq int64
	err = tx.queryRow(`SELECT tbl, target, conversation, seq, done, total FROM key_rotation WHERE id = 1`).Scan(&tbl, &p.Target, &key, &seq, &p.Done, &p.Total)
	if errors.Is(err, sql.ErrNoRows) {
		return false, p, nil
	}
	if err != nil {
		return false, p, err
	}
	t := -1
	for i := range resealTables {
		if resealTables[i].name == tbl {
			t = i
		}
	}
	if t < 0 {
		return true, p, fmt.Errorf("key rotation stands in table %q, which it does not walk", tbl)
	}
	table := resealTables[t]
	rows, err := tx.query(table.rows, key, seq, resealChunk)
	if err != nil {
		return true, p, err
	}
	type row struct {
		key      string
		seq      int64
		body     []byte
		indexKey int64
	}
	var chunk []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.key, &r.seq, &r.body, &r.indexKey); err != nil {
			rows.Close()
			return true, p, err
		}
		chunk = append(chunk, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return true, p, err
	}
	cur := tx.store.ring.cur
	var index indexKey // the newest, for the cards' fingerprints
	if table.cards && len(chunk) > 0 {
		keys, err := tx.indexKeys()
		if err != nil {
			return true, p, err
		}
		index = keys[0]
	}
	for _, r := range chunk {
		key, seq = r.key, r.seq
		p.Done++
		if id, ok := bodyKey(r.body); ok && id == cur && (!table.cards || r.indexKey == index.id) {
			continue
		}
		if err := tx.resealRow(table.row(r.key), r.key, r.seq, r.body, table.legacy, table.update, table.cards, index); err != nil {
			return true, p, err
		}
	}
	if p.Total < p.Done {
		p.Total = p.Done
	}
	if len(chunk) == resealChunk {
		_, err = tx.exec(`UPDATE key_rotation SET conversation = ?, seq = ?, done = ? WHERE id = 1`, key, seq, p.Done)
		return true, p, err
	}
	if t+1 < len(resealTables) {
		_, err = tx.exec(`UPDATE key_rotation SET tbl = ?, conversation = '', seq = 0, done = ? WHERE id = 1`, resealTables[t+1].name, p.Done)
		return true, p, err
	}
	p.Finished = true
	if err := tx.retireIndexKeys(); err != nil {
		return true, p, err
	}
	_, err = tx.exec(`DELETE FROM key_rotation WHERE id = 1`)
	return true, p, err
}

// resealRow seals the body of one row (named row in body.go, key and seq
// in its table) again under the newest data key, with update; a card's
// fingerprint moves to the index key index.
func (tx *Tx) resealRow(row, key string, seq int64, body []byte, legacy bool, update string, card bool, index indexKey) error {
	plain, err := tx.store.reopen(tx.ctx, row, seq, body, legacy)
	if err != nil {
		return err
	}
	defer clear(plain)
	sealed, err := tx.seal(row, seq, plain)
	if err != nil {
		return err
	}
	if _, err := tx.exec(update, sealed, key, seq); err != nil {
		return err
	}
	if card {
		return tx.refingerprint(key, plain, index)
	}
	return nil
}

// sealLegacy seals the bodies written before encryption (version 0), when
// a store of an older version is opened: a job like a rotation's, run to
// the end before Open returns. Then the WAL, which held their pages, is
// emptied.
func (s *Store) sealLegacy(ctx context.Context) error {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE body IS NOT NULL AND substr(body, 1, 1) = x'00'`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	s.log.Info("store: sealing bodies written before encryption", "bodies", n)
	err := s.Write(ctx, "seal legacy", func(tx *Tx) error {
		_, err := tx.exec(`INSERT OR IGNORE INTO key_rotation (id, target, total, started_at) VALUES (1, ?, ?, ?)`, tx.store.ring.cur, n, millis(s.ring.now()))
		return err
	})
	if err != nil {
		return err
	}
	if err := s.Reseal(ctx, nil); err != nil {
		return err
	}
	return s.checkpoint(ctx)
}

// checkpoint copies the WAL into the database and truncates it, so pages
// that held removed data are not kept in it (best effort while another
// process reads).
func (s *Store) checkpoint(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// privateFiles makes the database file (and the WAL and shared-memory
// files SQLite gives the same mode) readable by its owner only.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}
