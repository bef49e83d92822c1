package chat

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
)

// BenchmarkRouteWithWaiting measures what every routing event costs with
// thousands of conversations waiting: an agent going away and available
// again (each routes the queue) and attaching (the queue frame).
func BenchmarkRouteWithWaiting(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			st := testenv.Store(b, store.Config{Path: filepath.Join(b.TempDir(), "chat.db"), Durability: store.SurvivesProcessCrash})
			eng, _ := redact.New(redact.DefaultConfig())
			h, err := New(Config{Store: st, Engine: eng, Services: testServices, Agents: testAgents, MaxChats: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			var wg sync.WaitGroup
			sem := make(chan struct{}, 64)
			for range n {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					if _, _, err := h.Open(context.Background(), "support"); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			r := &recorder{}
			if _, _, err := h.AttachAgent("sam", r); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				h.SetAvailable("sam", i%2 == 0)
				if _, detach, err := h.AttachAgent("ann", &recorder{}); err == nil {
					detach()
				}
			}
		})
	}
}
