// Package keys holds the key-encryption keys (KEKs) that wrap the store's
// data keys. A KEK never encrypts a record itself: the store encrypts records
// under data keys and keeps those wrapped by a KEK, so rotating or moving the
// KEK re-wraps a few data keys instead of re-encrypting every record.
//
// Three providers give a KEK through one interface, KEK: a key file (64 hex
// digits, mode 0600), an environment variable (the same text), and PKCS#11
// (an HSM or SoftHSM2), which needs cgo and is built only with the pkcs11
// build tag; the default build stays pure Go.
//
// A key's bytes never appear in an error, a log line or a String: a KEK is
// known by its ID, a fingerprint that does not reveal the key.
//
// This package reads the key file or variable it is configured with: reading
// key material is its one job, so it is the exception to the rule that only
// cmd/gateway reads files and the environment.
package keys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Size is the size of every key, KEK or data key: 256 bits.
const Size = 32

// KEK is a key-encryption key: it wraps and unwraps data keys. It is safe
// for concurrent use.
type KEK interface {
	// ID names the key without revealing it (e.g. "local:1f2e…", a
	// fingerprint, or "pkcs11:TOKEN/LABEL"). A data key records the ID of
	// the KEK that wrapped it.
	ID() string
	// Wrap encrypts a data key.
	Wrap(ctx context.Context, dataKey []byte) ([]byte, error)
	// Unwrap decrypts what Wrap returned; a wrong key or altered bytes are
	// ErrUnwrap.
	Unwrap(ctx context.Context, wrapped []byte) ([]byte, error)
	// Close releases the provider (an HSM session); local keys are wiped.
	Close() error
}

// Errors of the providers.
var (
	// ErrUnwrap: the wrapped data key does not open with this KEK (another
	// key, or altered bytes).
	ErrUnwrap = errors.New("keys: data key does not unwrap with this key-encryption key")
	// ErrNoPKCS11: the binary was built without the pkcs11 tag.
	ErrNoPKCS11 = errors.New("keys: PKCS#11 support is not in this build (build with -tags pkcs11, cgo on)")
)

// wrapVersion is the first byte of a locally wrapped data key.
const wrapVersion = 1

// Local is a KEK held in memory: read from a key file or an environment
// variable, or generated.
type Local struct {
	id   string
	aead cipher.AEAD
	key  []byte
}

// NewLocal makes a KEK of the 32 bytes key (copied).
func NewLocal(key []byte) (*Local, error) {
	if len(key) != Size {
		return nil, fmt.Errorf("keys: a key-encryption key has %d bytes, not %d", Size, len(key))
	}
	k := append([]byte(nil), key...)
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return &Local{id: "local:" + Fingerprint(k), aead: aead, key: k}, nil
}

// Generate makes a new random local KEK.
func Generate() (*Local, error) {
	k := make([]byte, Size)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("keys: random key: %w", err)
	}
	defer clear(k)
	return NewLocal(k)
}

// Fingerprint is a name for key that does not reveal it: the first 8 bytes
// of HMAC-SHA256(key, a fixed label), in hex.
func Fingerprint(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("secureinput gateway key fingerprint v1"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// ID is "local:" and the key's fingerprint.
func (l *Local) ID() string { return l.id }

// String is the ID: never the key.
func (l *Local) String() string { return l.id }

// wrapAD binds a wrapped data key to the KEK that wrapped it.
func (l *Local) wrapAD() []byte { return []byte("secureinput gateway data key v1|" + l.id) }

// Wrap encrypts dataKey with AES-256-GCM under the KEK: version, nonce,
// ciphertext and tag.
func (l *Local) Wrap(_ context.Context, dataKey []byte) ([]byte, error) {
	out := make([]byte, 1+l.aead.NonceSize(), 1+l.aead.NonceSize()+len(dataKey)+l.aead.Overhead())
	out[0] = wrapVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("keys: wrap: random nonce: %w", err)
	}
	return l.aead.Seal(out, out[1:], dataKey, l.wrapAD()), nil
}

// Unwrap opens what Wrap returned.
func (l *Local) Unwrap(_ context.Context, wrapped []byte) ([]byte, error) {
	n := l.aead.NonceSize()
	if len(wrapped) < 1+n+l.aead.Overhead() || wrapped[0] != wrapVersion {
		return nil, ErrUnwrap
	}
	k, err := l.aead.Open(nil, wrapped[1:1+n], wrapped[1+n:], l.wrapAD())
	if err != nil {
		return nil, ErrUnwrap
	}
	return k, nil
}

// Close wipes the key's bytes; the AEAD keeps its own schedule until it is
// collected.
func (l *Local) Close() error {
	clear(l.key)
	return nil
}
