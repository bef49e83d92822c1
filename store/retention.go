package store

// Keeping transcripts as long as they are needed, and no longer: Purge
// removes the conversations that ended before a time (the retention
// schedule), Erase and EraseVisitor remove one conversation or every
// conversation of a visitor on request. Each removal is audited, with ids
// and counts and never a text, in the audit trail's hash chain (audit.go),
// in the same transaction as the removal.
// Rows are removed with secure_delete on, and the WAL is truncated after,
// so the sealed bodies do not linger in free pages or old frames.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// purgeChunk bounds the conversations one transaction of Purge removes.
const purgeChunk = 64

// ErrOpen: Erase of a conversation that has not ended; the hub still holds
// it.
var ErrOpen = errors.New("store: conversation is still open: end it first")

// ErasureRecord is one entry of the erasure log.
type ErasureRecord struct {
	At      time.Time
	Action  string // "erase" or "purge"
	Actor   string
	Subject string // a conversation id, "sha256:…" of a visitor id, or the purge's cut-off
	Count   int64  // conversations removed
}

// Audit actions.
const (
	AuditErase = "erase"
	AuditPurge = "purge"
)

// VisitorSubject is how the audit log names a visitor: a hash, so the log
// itself does not keep the id of someone who asked to be forgotten, while
// the request can still be shown to have been carried out.
func VisitorSubject(visitor string) string {
	h := sha256.Sum256([]byte(visitor))
	return "sha256:" + hex.EncodeToString(h[:])
}

// removeConversation deletes a conversation with its events and
// participants.
func (tx *Tx) removeConversation(id string) error {
	for _, q := range []string{
		`DELETE FROM events WHERE conversation = ?`,
		`DELETE FROM participants WHERE conversation = ?`,
		`DELETE FROM conversations WHERE id = ?`,
	} {
		if _, err := tx.exec(q, id); err != nil {
			return fmt.Errorf("store: remove conversation: %w", err)
		}
	}
	return nil
}

// audit records an erasure or a purge in the audit trail's hash chain, in
// the transaction that removes the rows: erased if and only if recorded.
func (tx *Tx) audit(action, actor, subject string, count int64) error {
	r := AuditRecord{At: tx.store.ring.now(), Actor: actor, Action: action, Outcome: "success", Source: "local",
		Target: subject, Detail: fmt.Sprintf("%d conversations", count)}
	if err := tx.AppendChained(r); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// Purge removes every conversation that ended before cutoff, in small
// transactions, and audits the run as actor. It returns how many went.
func (s *Store) Purge(ctx context.Context, cutoff time.Time, actor string) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.Write(ctx, "purge", func(tx *Tx) error {
			rows, err := tx.query(`SELECT id FROM conversations WHERE ended_at != 0 AND ended_at < ? LIMIT ?`, millis(cutoff), purgeChunk)
			if err != nil {
				return err
			}
			var ids []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			rows.Close()
			for _, id := range ids {
				if err := tx.removeConversation(id); err != nil {
					return err
				}
			}
			n = int64(len(ids))
			if n == 0 {
				return nil
			}
			return tx.audit(AuditPurge, actor, "ended before "+cutoff.UTC().Format(time.RFC3339), n)
		})
		if err != nil {
			return total, fmt.Errorf("store: purge: %w", err)
		}
		total += n
		if n < purgeChunk {
			break
		}
	}
	if total > 0 {
		s.checkpoint(ctx)
	}
	return total, nil
}

// Erase removes one ended conversation, on request, audited as actor.
func (s *Store) Erase(ctx context.Context, conversation, actor string) error {
	err := s.Write(ctx, "erase", func(tx *Tx) error {
		var ended int64
		if err := tx.queryRow(`SELECT ended_at FROM conversations WHERE id = ?`, conversation).Scan(&ended); err != nil {
			return fmt.Errorf("store: erase %s: %w", conversation, ErrNotFound)
		}
		if ended == 0 {
			return fmt.Errorf("%w (%s)", ErrOpen, conversation)
		}
		if err := tx.removeConversation(conversation); err != nil {
			return err
		}
		return tx.audit(AuditErase, actor, conversation, 1)
	})
	if err == nil {
		s.checkpoint(ctx)
	}
	return err
}

// EraseVisitor removes every conversation of a visitor id, audited as actor
// under the id's hash. A conversation of the visitor still open stops it
// before anything is removed (ErrOpen). It returns how many went.
func (s *Store) EraseVisitor(ctx context.Context, visitor, actor string) (int64, error) {
	if visitor == "" {
		return 0, errors.New("store: erase: empty visitor id")
	}
	var n int64
	err := s.Write(ctx, "erase visitor", func(tx *Tx) error {
		rows, err := tx.query(`SELECT id, ended_at FROM conversations WHERE visitor = ?`, visitor)
		if err != nil {
			return err
		}
		var ids []string
		open := ""
		for rows.Next() {
			var id string
			var ended int64
			if err := rows.Scan(&id, &ended); err != nil {
				rows.Close()
				return err
			}
			if ended == 0 {
				open = id
			}
			ids = append(ids, id)
		}
		rows.Close()
		if open != "" {
			return fmt.Errorf("%w (%s)", ErrOpen, open)
		}
		for _, id := range ids {
			if err := tx.removeConversation(id); err != nil {
				return err
			}
		}
		n = int64(len(ids))
		return tx.audit(AuditErase, actor, VisitorSubject(visitor), n)
	})
	if err == nil && n > 0 {
		s.checkpoint(ctx)
	}
	return n, err
}

// Erasures returns the erasure log (what was erased or purged, by whom,
// never a text), oldest first: the erase and purge records of the audit
// trail, after those an older version kept in a table of their own.
func (s *Store) Erasures(ctx context.Context) ([]ErasureRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, action, actor, subject, count FROM erasures
		UNION ALL SELECT at, action, actor, target, CAST(detail AS INTEGER) FROM audit WHERE action IN (?, ?)
		ORDER BY at`, AuditErase, AuditPurge)
	if err != nil {
		return nil, fmt.Errorf("store: audit: %w", err)
	}
	defer rows.Close()
	var out []ErasureRecord
	for rows.Next() {
		var r ErasureRecord
		var at int64
		if err := rows.Scan(&at, &r.Action, &r.Actor, &r.Subject, &r.Count); err != nil {
			return nil, err
		}
		r.At = time.UnixMilli(at)
		out = append(out, r)
	}
	return out, rows.Err()
}
