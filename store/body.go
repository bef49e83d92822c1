package store

// Sealed bodies. Every body the store keeps is sealed here and opened here:
// AES-256-GCM under a data key of the ring, a random 96-bit nonce, and
// associated data that binds the ciphertext to its row (conversation, seq;
// or "vault/" and the token of a vault card, seq 0, which no conversation
// id can be) and to its header, so a body copied to another row, or given
// another key id, does not open. The layout:
//
//	version (1 byte, 1) | data key id (4 bytes, big-endian) | nonce (12) | ciphertext | tag (16)
//
// Version 0 is a body written before encryption, plain text after the
// byte: the store seals those when it opens and never reads one.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

const (
	sealedVersion = 1
	legacyVersion = 0
	headerSize    = 5
	nonceSize     = 12
	sealOverhead  = headerSize + nonceSize + 16
)

// ErrBody is a stored body that does not open: altered, moved to another
// row, or truncated. Reading it is this error, never garbage text.
var ErrBody = errors.New("store: a stored body does not decrypt (altered, moved to another row, or truncated)")

// bodyAD is the associated data of a body: its header and its row.
func bodyAD(dst []byte, header []byte, conversation string, seq int64) []byte {
	dst = append(dst, header...)
	dst = binary.AppendUvarint(dst, uint64(len(conversation)))
	dst = append(dst, conversation...)
	return binary.BigEndian.AppendUint64(dst, uint64(seq))
}

// sealBody seals a (redacted) text for the row (conversation, seq) under
// the writer's current data key.
func (tx *Tx) sealBody(conversation string, seq int64, text string) ([]byte, error) {
	return tx.seal(conversation, seq, []byte(text))
}

// seal seals plain for the row (row, seq) under the writer's current data
// key: row is a conversation id, or cardRow of a vault card (seq 0). It
// runs in a write transaction, whose start reserved the encryptions. It
// keeps no copy of plain.
func (tx *Tx) seal(row string, seq int64, plain []byte) ([]byte, error) {
	r := tx.store.ring
	if r.curAEAD == nil || r.used >= r.limit {
		return nil, ErrKeyBudget
	}
	r.used++
	out := make([]byte, headerSize+nonceSize, sealOverhead+len(plain))
	out[0] = sealedVersion
	binary.BigEndian.PutUint32(out[1:headerSize], uint32(r.cur))
	if _, err := rand.Read(out[headerSize:]); err != nil {
		return nil, fmt.Errorf("store: seal: random nonce: %w", err)
	}
	var adBuf [64]byte
	ad := bodyAD(adBuf[:0], out[:headerSize], row, seq)
	return r.curAEAD.Seal(out, out[headerSize:], plain, ad), nil
}

// bodyKey is the data key id a sealed body names; ok is false for a body
// that is not sealed.
func bodyKey(b []byte) (id int64, ok bool) {
	if len(b) < sealOverhead || b[0] != sealedVersion {
		return 0, false
	}
	return int64(binary.BigEndian.Uint32(b[1:headerSize])), true
}

// openBody is the inverse of sealBody.
func (s *Store) openBody(ctx context.Context, conversation string, seq int64, b []byte) (string, error) {
	plain, err := s.open(ctx, conversation, seq, b)
	return string(plain), err
}

// open is the inverse of seal, the one place a body is read. The plain
// text it returns is the caller's, to wipe if it must.
func (s *Store) open(ctx context.Context, row string, seq int64, b []byte) ([]byte, error) {
	id, ok := bodyKey(b)
	if !ok {
		return nil, fmt.Errorf("%s: %w", rowName(row, seq), ErrBody)
	}
	a, err := s.ring.aead(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	var adBuf [64]byte
	ad := bodyAD(adBuf[:0], b[:headerSize], row, seq)
	plain, err := a.Open(nil, b[headerSize:headerSize+nonceSize], b[headerSize+nonceSize:], ad)
	if err != nil {
		return nil, fmt.Errorf("%s (data key %d): %w", rowName(row, seq), id, ErrBody)
	}
	return plain, nil
}

// rowName names the row of a body in an error: never its text.
func rowName(row string, seq int64) string {
	if token, ok := strings.CutPrefix(row, cardRowPrefix); ok {
		return "vault card " + token
	}
	return fmt.Sprintf("conversation %s seq %d", row, seq)
}

// reopen gives the plain text of a body being re-encrypted: a sealed one
// opened, or a version 0 one (only ever in events) as it was written.
func (s *Store) reopen(ctx context.Context, row string, seq int64, b []byte, legacy bool) ([]byte, error) {
	if legacy && len(b) > 0 && b[0] == legacyVersion {
		return bytes.Clone(b[1:]), nil
	}
	return s.open(ctx, row, seq, b)
}
