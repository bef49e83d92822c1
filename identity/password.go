package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// ErrBadHash: a password hash is neither bcrypt ($2a$, $2b$, $2y$) nor
// argon2id in the PHC format ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
var ErrBadHash = errors.New("password hash must be bcrypt ($2b$…) or argon2id ($argon2id$v=19$m=…,t=…,p=…$salt$hash)")

// CheckHash reports whether hash is a password hash VerifyPassword accepts.
func CheckHash(hash string) error {
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("%w: %v", ErrBadHash, err)
		}
		return nil
	case strings.HasPrefix(hash, "$argon2id$"):
		_, err := parseArgon2id(hash)
		return err
	}
	return ErrBadHash
}

// VerifyPassword reports whether password matches hash.
func VerifyPassword(hash, password string) bool {
	if strings.HasPrefix(hash, "$argon2id$") {
		p, err := parseArgon2id(hash)
		if err != nil {
			return false
		}
		got := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
		return subtle.ConstantTimeCompare(got, p.key) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

type argon2Params struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func parseArgon2id(hash string) (argon2Params, error) {
	var p argon2Params
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		return p, ErrBadHash
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil || threads == 0 || threads > 255 || p.time == 0 || p.memory == 0 {
		return p, ErrBadHash
	}
	p.threads = uint8(threads)
	var err1, err2 error
	p.salt, err1 = base64.RawStdEncoding.DecodeString(parts[4])
	p.key, err2 = base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(p.salt) < 8 || len(p.key) < 16 {
		return p, ErrBadHash
	}
	return p, nil
}

// Password rules of new passwords (PCI DSS 8.3.6): at least MinPassword
// characters with letters and digits; bcrypt reads at most MaxPassword
// bytes, so a longer password is refused rather than silently cut.
const (
	MinPassword = 12
	MaxPassword = 72
)

// ErrWeakPassword is a new password that breaks the rules.
var ErrWeakPassword = errors.New("identity: weak password")

// CheckPassword says why password may not be the new password of login,
// or nil. The message names the rule, never the password.
func CheckPassword(login, password string) error {
	switch {
	case !utf8.ValidString(password):
		return fmt.Errorf("%w: not valid UTF-8", ErrWeakPassword)
	case utf8.RuneCountInString(password) < MinPassword:
		return fmt.Errorf("%w: at least %d characters", ErrWeakPassword, MinPassword)
	case len(password) > MaxPassword:
		return fmt.Errorf("%w: at most %d bytes", ErrWeakPassword, MaxPassword)
	case !strings.ContainsFunc(password, unicode.IsLetter) || !strings.ContainsFunc(password, unicode.IsDigit):
		return fmt.Errorf("%w: needs both letters and digits", ErrWeakPassword)
	case login != "" && strings.Contains(strings.ToLower(password), strings.ToLower(login)):
		return fmt.Errorf("%w: must not contain the login", ErrWeakPassword)
	}
	return nil
}

// HashCost is the bcrypt cost of new password hashes.
const HashCost = bcrypt.DefaultCost

// HashPassword hashes a new password (bcrypt, HashCost). It does not check
// the rules: call CheckPassword first.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), HashCost)
	if err != nil {
		return "", fmt.Errorf("identity: hash password: %w", err)
	}
	return string(h), nil
}

// dummyLike returns a hash of a random password with the parameters of
// hash (its bcrypt cost, or its argon2id settings), so that checking a
// password against it takes as long as against hash.
func dummyLike(hash string) string {
	pw := make([]byte, 18)
	rand.Read(pw)
	if p, err := parseArgon2id(hash); err == nil {
		salt := make([]byte, len(p.salt))
		rand.Read(salt)
		key := argon2.IDKey(pw, salt, p.time, p.memory, p.threads, uint32(len(p.key)))
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.memory, p.time, p.threads,
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		cost = HashCost
	}
	h, _ := bcrypt.GenerateFromPassword(pw, cost)
	return string(h)
}

// hashParams names the parameters of a hash (algorithm and cost), so that
// hashes alike can be counted.
func hashParams(hash string) string {
	if p, err := parseArgon2id(hash); err == nil {
		return fmt.Sprintf("argon2id m=%d t=%d p=%d", p.memory, p.time, p.threads)
	}
	if c, err := bcrypt.Cost([]byte(hash)); err == nil {
		return fmt.Sprintf("bcrypt %d", c)
	}
	return ""
}
