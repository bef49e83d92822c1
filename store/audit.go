package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// AuditRecord is one row of the audit trail. The store keeps what it is
// given; the audit package redacts the texts and computes the hashes.
type AuditRecord struct {
	Seq     int64
	At      time.Time
	Actor   string
	Action  string
	Outcome string
	Source  string
	Target  string
	Detail  string
	Prev    []byte
	Hash    []byte
}

const auditColumns = `seq, at, actor, action, outcome, source, target, detail, prev, hash`

// LastAudit returns the seq and hash of the latest audit record inside the
// transaction (0 and nil when there is none). The writer holds the write
// lock from the transaction's start, so no other record can come between.
func (tx *Tx) LastAudit() (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("store: last audit record: %w", err)
	}
	return seq, hash, nil
}

// Sum is the hash of a record: SHA-256 over the previous hash, the seq,
// the time and each text with its length, so that no two records share an
// encoding.
func (r AuditRecord) Sum() []byte {
	h := sha256.New()
	h.Write(r.Prev)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(r.Seq))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(r.At.UnixMilli()))
	h.Write(n[:])
	for _, s := range []string{r.Actor, r.Action, r.Outcome, r.Source, r.Target, r.Detail} {
		binary.BigEndian.PutUint32(n[:4], uint32(len(s)))
		h.Write(n[:4])
		h.Write([]byte(s))
	}
	return h.Sum(nil)
}

// AppendChained appends r after the latest record inside the transaction:
// its Seq, Prev and Hash are set here (32 zero bytes precede the first).
func (tx *Tx) AppendChained(r AuditRecord) error {
	seq, prev, err := tx.LastAudit()
	if err != nil {
		return err
	}
	if prev == nil {
		prev = make([]byte, sha256.Size)
	}
	r.Seq, r.Prev = seq+1, prev
	r.Hash = r.Sum()
	return tx.AppendAudit(r)
}

// AppendAudit inserts r, whose Seq must follow LastAudit's.
func (tx *Tx) AppendAudit(r AuditRecord) error {
	_, err := tx.exec(`INSERT INTO audit (`+auditColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, millis(r.At), r.Actor, r.Action, r.Outcome, r.Source, r.Target, r.Detail, r.Prev, r.Hash)
	if err != nil {
		return fmt.Errorf("store: append audit record: %w", err)
	}
	return nil
}

// PruneAudit removes the audit records written before before; the
// database refuses to remove any younger than 12 months.
func (tx *Tx) PruneAudit(before time.Time) error {
	if _, err := tx.exec(`DELETE FROM audit WHERE at < ?`, millis(before)); err != nil {
		return fmt.Errorf("store: prune audit: %w", err)
	}
	return nil
}

// AuditRecords returns up to limit audit records with Seq > after, in order.
func (s *Store) AuditRecords(ctx context.Context, after int64, limit int) ([]AuditRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit records: %w", err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var r AuditRecord
		var at int64
		if err := rows.Scan(&r.Seq, &at, &r.Actor, &r.Action, &r.Outcome, &r.Source, &r.Target, &r.Detail, &r.Prev, &r.Hash); err != nil {
			return nil, fmt.Errorf("store: audit records: %w", err)
		}
		r.At = fromMillis(at)
		out = append(out, r)
	}
	return out, rows.Err()
}
