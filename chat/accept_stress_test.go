package chat

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
)

// acceptingSink accepts every offer it gets, from a goroutine of its own,
// as a console does.
type acceptingSink struct {
	h        *Hub
	login    string
	accepted *atomic.Int64
	wg       *sync.WaitGroup
}

func (s *acceptingSink) Notice(string, int64, any) {}
func (s *acceptingSink) Deliver(f Frame) {
	if f.Type != FrameOffer {
		return
	}
	s.wg.Go(func() {
		if err := s.h.Accept(context.Background(), f.Conversation, s.login); err == nil {
			s.accepted.Add(1)
		}
	})
}

// Many agents each taking one chat, with the chats opened all at once:
// every chat is accepted (chatload's start-up).
func TestEveryChatIsAcceptedUnderConcurrency(t *testing.T) {
	const groups, per = 4, 100
	st := testenv.Store(t, store.Config{Path: filepath.Join(t.TempDir(), "chat.db"), Durability: store.SurvivesProcessCrash})
	eng, _ := redact.New(redact.DefaultConfig())
	var services []Service
	var agents []Agent
	for g := range groups {
		services = append(services, Service{Name: fmt.Sprint("s", g), Workgroup: fmt.Sprint("g", g)})
		for i := range per {
			agents = append(agents, Agent{Login: fmt.Sprintf("a%d_%d", g, i), Name: "A", Workgroups: []string{fmt.Sprint("g", g)}})
		}
	}
	h, err := New(Config{Store: st, Engine: eng, Services: services, Agents: agents, MaxChats: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for _, a := range agents {
		if _, _, err := h.AttachAgent(a.Login, &acceptingSink{h: h, login: a.Login, accepted: &accepted, wg: &wg}); err != nil {
			t.Fatal(err)
		}
		h.SetAvailable(a.Login, true)
	}
	var opens sync.WaitGroup
	for g := range groups {
		for range per {
			opens.Go(func() { h.Open(context.Background(), fmt.Sprint("s", g)) })
		}
	}
	opens.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for accepted.Load() < groups*per && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	if n := accepted.Load(); n != groups*per {
		t.Fatalf("%d of %d chats accepted; %d still wait", n, groups*per, h.Waiting())
	}
}
