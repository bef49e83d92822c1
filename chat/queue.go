package chat

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// The waiting conversations of a workgroup are kept in one slice in queue
// order (oldest first, then by id), updated by binary search as they come
// and go. Routing walks a queue from its head and stops at the first
// conversation no agent is free for, the queue frame reads the head, and
// expiry pops the oldest silent conversations: no event sorts the waiting
// conversations, so thousands of them cost each event what a few do
// (BenchmarkRouteWithWaiting). Inserting moves the pointers after the
// insertion point, a memmove of at most a few hundred KiB at 50,000 waiting.

// DefaultWaitTimeout is how long a waiting conversation in which the visitor
// wrote nothing is kept.
const DefaultWaitTimeout = 10 * time.Minute

// waitQueue is a workgroup's waiting conversations in queue order.
type waitQueue []*conversation

func queueOrder(x, y *conversation) int {
	if d := x.created.Compare(y.created); d != 0 {
		return d
	}
	return strings.Compare(x.id, y.id)
}

func (q *waitQueue) insert(c *conversation) {
	i, found := slices.BinarySearchFunc(*q, c, queueOrder)
	if !found {
		*q = slices.Insert(*q, i, c)
	}
}

func (q *waitQueue) remove(c *conversation) {
	if i, found := slices.BinarySearchFunc(*q, c, queueOrder); found && (*q)[i] == c {
		*q = slices.Delete(*q, i, i+1)
	}
}

// enqueueLocked and dequeueLocked keep a conversation's place in its
// workgroup's queue. h.mu held.
func (h *Hub) enqueueLocked(c *conversation) {
	q := h.queues[c.workgroup]
	if q == nil {
		q = &waitQueue{}
		h.queues[c.workgroup] = q
	}
	q.insert(c)
}

func (h *Hub) dequeueLocked(c *conversation) {
	if q := h.queues[c.workgroup]; q != nil {
		q.remove(c)
	}
}

// waitingCount is how many conversations wait, in every workgroup.
func (h *Hub) waitingCountLocked() int {
	n := 0
	for _, q := range h.queues {
		n += len(*q)
	}
	return n
}

// Waiting returns how many conversations wait for an agent.
func (h *Hub) Waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waitingCountLocked()
}

// ExpireWaiting ends the waiting conversations opened WaitTimeout ago or
// earlier in which the visitor has written nothing, oldest first, and
// returns how many it ended. The gateway calls it every few seconds.
func (h *Hub) ExpireWaiting(ctx context.Context) int {
	cutoff := h.now().Add(-h.cfg.WaitTimeout)
	h.mu.Lock()
	var due []*conversation
	for len(h.silent) > 0 && !h.silent[0].created.After(cutoff) {
		c := h.silent[0]
		h.silent[0] = nil
		h.silent = h.silent[1:]
		if c.state == StateWaiting && !c.spoke.Load() {
			due = append(due, c)
		}
	}
	if len(h.silent) == 0 {
		h.silent = nil // let the backing array go
	}
	h.mu.Unlock()
	n := 0
	for _, c := range due {
		c.mu.Lock()
		h.mu.Lock()
		still := c.state == StateWaiting && !c.spoke.Load()
		h.mu.Unlock()
		if !still {
			c.mu.Unlock()
			continue
		}
		if err := h.endLocked(ctx, c, RoleSystem, "expired"); err != nil {
			h.log.Error("chat: expire waiting conversation", slog.String("conversation", c.id), slog.Any("err", err))
			continue // endLocked unlocked c.mu
		}
		n++
	}
	if n > 0 {
		h.log.Info("chat: waiting conversations expired: the visitor wrote nothing", slog.Int("count", n), slog.Duration("after", h.cfg.WaitTimeout))
	}
	return n
}
