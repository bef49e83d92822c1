package web

import (
	"context"
	"time"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
)

// inSupervise is a supervisor's request to watch a workgroup.
const inSupervise = "supervise"

// supervisionEvery is how often a supervisor's view is refreshed.
const supervisionEvery = time.Second

// supervisedChat is a live conversation with its secure-input counts.
type supervisedChat struct {
	chat.LiveChat
	SecureInput chatforms.Usage `json:"secure_input"`
}

// supervise starts sending the supervision frame of workgroup to cl every
// supervisionEvery until ctx ends or the supervisor asks for another
// workgroup. It returns the function that stops it.
func (s *Server) supervise(ctx context.Context, cl *client, login, workgroup string) (stop func(), err error) {
	if s.cfg.Desk == nil || !s.cfg.Desk.Catalog().Supervises(login, workgroup) {
		return nil, chat.ErrForbidden
	}
	ctx, cancel := context.WithCancel(ctx)
	send := func() {
		live, agents := s.hub.Workgroup(workgroup)
		chats := make([]supervisedChat, len(live))
		for i, c := range live {
			chats[i] = supervisedChat{LiveChat: c, SecureInput: s.usage(ctx, c.Conversation)}
		}
		cl.send("", supervisionFrame{Type: frameSupervision, Workgroup: workgroup, Conversations: chats, Agents: agents, At: time.Now().UnixMilli()})
	}
	s.sockets.Add(1) // the socket's own count is held: it is its read loop asking
	go func() {
		defer s.sockets.Done()
		t := time.NewTicker(supervisionEvery)
		defer t.Stop()
		send()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				send()
			}
		}
	}()
	return cancel, nil
}
