package identity

import (
	"encoding/base64"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

var passwordHash = func() string {
	h, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	return string(h)
}()

func TestPasswordHashes(t *testing.T) {
	// argon2id of "secret", m=65536 t=1 p=1, from the reference CLI format.
	const argon = "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$"
	for _, tc := range []struct {
		hash string
		ok   bool
	}{
		{passwordHash, true},
		{"plain", false},
		{"$argon2id$v=19$m=0,t=1,p=1$c2FsdA$aGFzaA", false},
		{argon + "short", false},
	} {
		if err := CheckHash(tc.hash); (err == nil) != tc.ok {
			t.Errorf("CheckHash(%q) = %v, want ok=%v", tc.hash, err, tc.ok)
		}
	}
	if !VerifyPassword(passwordHash, "secret") || VerifyPassword(passwordHash, "Secret") {
		t.Error("bcrypt verification is wrong")
	}
	h := argon2idHash(t, "secret")
	if err := CheckHash(h); err != nil {
		t.Fatal(err)
	}
	if !VerifyPassword(h, "secret") || VerifyPassword(h, "secreT") {
		t.Error("argon2id verification is wrong")
	}
}

func argon2idHash(t *testing.T, password string) string {
	t.Helper()
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(password), salt, 1, 1024, 1, 32)
	return "$argon2id$v=19$m=1024,t=1,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
}
