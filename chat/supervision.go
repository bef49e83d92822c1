package chat

import (
	"context"
	"slices"
	"strings"
)

// Describe returns a conversation (live or ended) and its agent.
func (h *Hub) Describe(ctx context.Context, id string) (ChatInfo, string, error) {
	h.mu.Lock()
	if c := h.convs[id]; c != nil {
		defer h.mu.Unlock()
		return h.infoLocked(c), c.agent, nil
	}
	h.mu.Unlock()
	sc, err := h.cfg.Store.Conversation(ctx, id)
	if err != nil {
		return ChatInfo{}, "", ErrNotFound
	}
	return ChatInfo{Conversation: sc.ID, Service: sc.Service, Workgroup: h.services[sc.Service].Workgroup,
		State: sc.State, Since: sc.Created.UnixMilli()}, sc.Agent, nil
}

// LiveChat is a live conversation as a supervisor sees it.
type LiveChat struct {
	ChatInfo
	Agent string `json:"agent"`
}

// AgentInfo is an agent as a supervisor sees them.
type AgentInfo struct {
	Login     string `json:"login"`
	Name      string `json:"name"`
	Available bool   `json:"available"`
	Online    bool   `json:"online"`
	Chats     int    `json:"chats"`
}

// Workgroup returns the live conversations and the agents of a workgroup,
// oldest conversation first, agents by login.
func (h *Hub) Workgroup(workgroup string) ([]LiveChat, []AgentInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	chats := []LiveChat{}
	for _, c := range h.convs {
		if c.workgroup == workgroup {
			chats = append(chats, LiveChat{ChatInfo: h.infoLocked(c), Agent: c.agent})
		}
	}
	slices.SortFunc(chats, func(x, y LiveChat) int { return compareInfos(x.ChatInfo, y.ChatInfo) })
	agents := []AgentInfo{}
	for _, a := range h.byGroup[workgroup] {
		agents = append(agents, AgentInfo{Login: a.Login, Name: a.Name, Available: a.available, Online: len(a.sinks) > 0, Chats: len(a.chats)})
	}
	slices.SortFunc(agents, func(x, y AgentInfo) int { return strings.Compare(x.Login, y.Login) })
	return chats, agents
}

// Handling returns the workgroup and the handling agent of a live
// conversation.
func (h *Hub) Handling(id string) (workgroup, agent string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.convs[id]
	if c == nil {
		return "", "", false
	}
	return c.workgroup, c.agent, true
}
