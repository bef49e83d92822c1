package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// MailState is where the ingest of one mailbox stands.
type MailState struct {
	Mailbox     string
	UIDValidity uint32
	LastUID     uint32 // every message up to it is handled
	PendingUID  uint32 // its copy may be delivered, its original not yet removed
}

// MailState reads the state of a mailbox; the zero state if none.
func (s *Store) MailState(ctx context.Context, mailbox string) (MailState, error) {
	st := MailState{Mailbox: mailbox}
	err := s.db.QueryRowContext(ctx, `SELECT uidvalidity, last_uid, pending_uid FROM mail_state WHERE mailbox = ?`, mailbox).
		Scan(&st.UIDValidity, &st.LastUID, &st.PendingUID)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("store: mail state: %w", err)
	}
	return st, nil
}

// SetMailState records the state of a mailbox.
func (tx *Tx) SetMailState(st MailState) error {
	_, err := tx.exec(`INSERT INTO mail_state (mailbox, uidvalidity, last_uid, pending_uid) VALUES (?, ?, ?, ?)
		ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, pending_uid = excluded.pending_uid`,
		st.Mailbox, st.UIDValidity, st.LastUID, st.PendingUID)
	if err != nil {
		return fmt.Errorf("store: set mail state: %w", err)
	}
	return nil
}
