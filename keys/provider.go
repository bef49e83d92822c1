package keys

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Config says where a KEK comes from: exactly one of File, Env and PKCS11.
type Config struct {
	// File is a key file: 64 hex digits (a trailing newline is allowed),
	// readable by its owner only.
	File string
	// Env names an environment variable holding 64 hex digits.
	Env string
	// PKCS11 is a key in a PKCS#11 token (an HSM, SoftHSM2).
	PKCS11 *PKCS11Config
	// LookupEnv reads the environment; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// PKCS11Config finds an AES-256 key in a PKCS#11 token. The PIN is read from
// the environment variable PINEnv, never from configuration text.
type PKCS11Config struct {
	Module   string // the provider library, e.g. /usr/lib/softhsm/libsofthsm2.so
	Token    string // the token's label
	PINEnv   string // environment variable holding the user PIN
	KeyLabel string // CKA_LABEL of the AES key
	// Create makes the key in the token when none has KeyLabel (for a
	// first start and tests; an HSM's key is usually made by its tools).
	Create bool
}

// Source describes where cfg's key is, for a banner or an error: never the key.
func (cfg Config) Source() string {
	switch {
	case cfg.File != "":
		return "key file " + cfg.File
	case cfg.Env != "":
		return "environment variable " + cfg.Env
	case cfg.PKCS11 != nil:
		return fmt.Sprintf("PKCS#11 token %q key %q", cfg.PKCS11.Token, cfg.PKCS11.KeyLabel)
	}
	return "no key-encryption key"
}

// Open gets the KEK cfg names.
func Open(ctx context.Context, cfg Config) (KEK, error) {
	n := 0
	for _, set := range []bool{cfg.File != "", cfg.Env != "", cfg.PKCS11 != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("keys: set exactly one of File, Env and PKCS11")
	}
	switch {
	case cfg.File != "":
		return ReadFile(cfg.File)
	case cfg.Env != "":
		lookup := cfg.LookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		v, ok := lookup(cfg.Env)
		if !ok {
			return nil, fmt.Errorf("keys: environment variable %s is not set", cfg.Env)
		}
		k, err := ParseKey([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("keys: environment variable %s: %w", cfg.Env, err)
		}
		defer clear(k)
		return NewLocal(k)
	default:
		return openPKCS11(ctx, *cfg.PKCS11, cfg.LookupEnv)
	}
}

// ParseKey reads a key written as 64 hex digits, surrounding white space
// allowed. Its error never quotes the text.
func ParseKey(text []byte) ([]byte, error) {
	t := bytes.TrimSpace(text)
	if len(t) != 2*Size {
		return nil, fmt.Errorf("want %d hex digits (a 256-bit key), found %d characters", 2*Size, len(t))
	}
	k := make([]byte, Size)
	if _, err := hex.Decode(k, t); err != nil {
		clear(k)
		return nil, fmt.Errorf("want %d hex digits (a 256-bit key): not hex", 2*Size)
	}
	return k, nil
}

// ReadFile reads a key file. A file that others may read is refused, as ssh
// refuses such a private key.
func ReadFile(path string) (*Local, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keys: key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keys: key file %s has mode %04o: others may read it; chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: key file: %w", err)
	}
	defer clear(b)
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("keys: key file %s: %w", path, err)
	}
	defer clear(k)
	return NewLocal(k)
}

// CreateFile writes a new random key to path (mode 0600, its directory made
// 0700 if missing) and returns it. It never replaces a file: an existing
// path is an error wrapping fs.ErrExist.
func CreateFile(path string) (*Local, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("keys: key file directory: %w", err)
	}
	k, err := Generate()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("keys: create key file: %w", err)
	}
	text := make([]byte, 2*Size+1)
	hex.Encode(text, k.key)
	text[2*Size] = '\n'
	_, err = f.Write(text)
	clear(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("keys: write key file %s: %w", path, err)
	}
	return k, nil
}

// OpenOrCreateFile reads the key file at path, or creates it if there is
// none; created says which.
func OpenOrCreateFile(path string) (k *Local, created bool, err error) {
	k, err = CreateFile(path)
	if errors.Is(err, fs.ErrExist) {
		k, err = ReadFile(path)
		return k, false, err
	}
	return k, err == nil, err
}
