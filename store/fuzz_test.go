package store

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

// FuzzOpenBody opens arbitrary bytes as a stored body, and a real sealed
// body with arbitrary changes: never a panic, and never a text unless the
// bytes are exactly what was sealed for that row.
func FuzzOpenBody(f *testing.F) {
	s, err := Open(context.Background(), Config{Path: filepath.Join(f.TempDir(), "gateway.db"), KEK: testKEK(f)})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	var sealed []byte
	err = s.Write(context.Background(), "seal", func(tx *Tx) error {
		sealed, err = tx.sealBody("c1", 7, "hello ####")
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, "c1", int64(7))
	f.Add(sealed, "c1", int64(8))
	f.Add(sealed[:len(sealed)-1], "c1", int64(7))
	f.Add([]byte{0, 'h', 'i'}, "c1", int64(7))
	f.Add([]byte{}, "", int64(0))
	f.Fuzz(func(t *testing.T, b []byte, conv string, seq int64) {
		text, err := s.openBody(context.Background(), conv, seq, b)
		exact := bytes.Equal(b, sealed) && conv == "c1" && seq == 7
		switch {
		case exact && (err != nil || text != "hello ####"):
			t.Fatalf("the sealed body for its row: %q, %v", text, err)
		case !exact && err == nil:
			t.Fatalf("bytes % x for (%q, %d) opened to %q", b, conv, seq, text)
		case !exact && text != "":
			t.Fatalf("an error with text %q", text)
		}
	})
}
