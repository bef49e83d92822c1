package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAppendCPU appends messages inside one transaction: the CPU cost
// of a write (SQL, sealing), without the commit's fsync.
func BenchmarkAppendCPU(b *testing.B) {
	s, err := Open(context.Background(), Config{Path: filepath.Join(b.TempDir(), "bench.db"), KEK: testKEK(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	err = s.Write(context.Background(), "bench", func(tx *Tx) error {
		if err := tx.CreateConversation(Conversation{ID: "c1", Service: "s", TokenHash: []byte("h"), State: "active", Created: time.Now()}); err != nil {
			return err
		}
		s.ring.limit = 1 << 40 // one transaction seals them all
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := tx.AppendEvent(Event{Conversation: "c1", Seq: int64(i + 1), Type: EventMessage, Author: "visitor", Text: "hello, order 1234, card ###################", At: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
