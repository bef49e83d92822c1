package store

// Sealed bodies. Every body the store keeps is sealed here and opened here:
// AES-256-GCM under a data key of the ring, a random 96-bit nonce, and
// associated data that binds the ciphertext to its row (conversation, seq)
// and to its header, so a body copied to another row, or given another key
// id, does not open. The layout:
//
//	version (1 byte, 1) | data key id (4 bytes, big-endian) | nonce (12) | ciphertext | tag (16)
//
// Version 0 is a body written before encryption, plain text after the
// byte: the store seals those when it opens and never reads one.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
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
// the writer's current data key. It runs in a write transaction, whose
// start reserved the encryptions.
func (tx *Tx) sealBody(conversation string, seq int64, text string) ([]byte, error) {
	r := tx.store.ring
	if r.curAEAD == nil || r.used >= r.limit {
		return nil, ErrKeyBudget
	}
	r.used++
	out := make([]byte, headerSize+nonceSize, sealOverhead+len(text))
	out[0] = sealedVersion
	binary.BigEndian.PutUint32(out[1:headerSize], uint32(r.cur))
	if _, err := rand.Read(out[headerSize:]); err != nil {
		return nil, fmt.Errorf("store: seal: random nonce: %w", err)
	}
	var adBuf [64]byte
	ad := bodyAD(adBuf[:0], out[:headerSize], conversation, seq)
	return r.curAEAD.Seal(out, out[headerSize:], []byte(text), ad), nil
}

// bodyKey is the data key id a sealed body names; ok is false for a body
// that is not sealed.
func bodyKey(b []byte) (id int64, ok bool) {
	if len(b) < sealOverhead || b[0] != sealedVersion {
		return 0, false
	}
	return int64(binary.BigEndian.Uint32(b[1:headerSize])), true
}

// openBody is the inverse of sealBody, the one place a body is read.
func (s *Store) openBody(ctx context.Context, conversation string, seq int64, b []byte) (string, error) {
	id, ok := bodyKey(b)
	if !ok {
		return "", fmt.Errorf("conversation %s seq %d: %w", conversation, seq, ErrBody)
	}
	a, err := s.ring.aead(ctx, s.db, id)
	if err != nil {
		return "", err
	}
	var adBuf [64]byte
	ad := bodyAD(adBuf[:0], b[:headerSize], conversation, seq)
	plain, err := a.Open(nil, b[headerSize:headerSize+nonceSize], b[headerSize+nonceSize:], ad)
	if err != nil {
		return "", fmt.Errorf("conversation %s seq %d (data key %d): %w", conversation, seq, id, ErrBody)
	}
	return string(plain), nil
}

// reopen gives the text of a body being re-encrypted: a sealed one opened,
// or a version 0 one as it was written.
func (s *Store) reopen(ctx context.Context, conversation string, seq int64, b []byte) (string, error) {
	if len(b) > 0 && b[0] == legacyVersion {
		return string(b[1:]), nil
	}
	return s.openBody(ctx, conversation, seq, b)
}
