package chat

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// maxPreview bounds the first message and the page an agent sees in the
// queue, in bytes.
const maxPreview = 200

// maxFirstEvents bounds the events Load reads to find a conversation's
// first visitor message and the updates that masked it further; a
// conversation with more shows no first message rather than one that may
// not be masked as far as its transcript.
const maxFirstEvents = 200

// firstMessage is a conversation's first visitor message as Load found it.
type firstMessage struct {
	seq  int64
	text string
}

// preview redacts text and cuts it to maxPreview bytes at a character
// boundary, with an ellipsis if it was cut; "" if it cannot be redacted
// (fail closed: nothing is shown rather than text as typed).
func (h *Hub) preview(text []byte) string {
	if len(text) == 0 {
		return ""
	}
	if !utf8.Valid(text) {
		return ""
	}
	redacted, _, err := h.cfg.Engine.AppendRedact(nil, text, nil)
	if err != nil {
		return ""
	}
	s := strings.Join(strings.Fields(string(redacted)), " ")
	if len(s) <= maxPreview {
		return s
	}
	cut := maxPreview
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// pageOnly is the address of a page without its query and fragment, which
// may carry anything.
func pageOnly(page string) string {
	if i := strings.IndexAny(page, "?#"); i >= 0 {
		page = page[:i]
	}
	if len(page) > 4*maxPreview { // redact no more than needed
		page = page[:4*maxPreview]
	}
	return page
}

// readFirst reads a conversation's first visitor message from the store,
// with the updates that masked it further.
func (h *Hub) readFirst(ctx context.Context, id string) (firstMessage, bool) {
	evs, err := h.cfg.Store.Events(ctx, id, 0, maxFirstEvents+1)
	if err != nil || len(evs) > maxFirstEvents {
		return firstMessage{}, false
	}
	var f firstMessage
	for _, e := range evs {
		switch {
		case e.Type == FrameMessage && e.Author == RoleVisitor && f.seq == 0:
			f = firstMessage{seq: e.Seq, text: e.Text}
		case e.Type == FrameMessageUpdate && f.seq != 0 && e.Ref == f.seq:
			f.text = e.Text
		}
	}
	if f.seq == 0 {
		return f, false
	}
	// Stored text is redacted already; preview bounds it (and redacts
	// again, which changes nothing masked).
	f.text = h.preview([]byte(f.text))
	return f, true
}

// placeLocked is c's place in the queue of its workgroup: 1 for the oldest
// waiting conversation. h.mu held.
func (h *Hub) placeLocked(c *conversation) int {
	q := h.queues[c.workgroup]
	if q == nil {
		return 1
	}
	i, _ := slices.BinarySearchFunc(*q, c, queueOrder)
	return i + 1
}

// placesChangedLocked schedules telling the visitors of a workgroup's
// waiting conversations their new places. h.mu held. The frames go out on
// a timer's goroutine, which takes each conversation's mu in turn (the lock
// order forbids taking it under h.mu).
func (h *Hub) placesChangedLocked(workgroup string) {
	h.placesDirty[workgroup] = true
	if h.placesPending || h.closed {
		return
	}
	h.placesPending = true
	time.AfterFunc(0, h.sendPlaces)
}

// sendPlaces tells each waiting visitor of the dirty workgroups its place,
// if it changed since it was last told.
func (h *Hub) sendPlaces() {
	h.placesMu.Lock()
	defer h.placesMu.Unlock()
	type told struct {
		c     *conversation
		place int
	}
	h.mu.Lock()
	h.placesPending = false
	if h.closed {
		h.mu.Unlock()
		return
	}
	var out []told
	for wg := range h.placesDirty {
		q := h.queues[wg]
		if q == nil {
			continue
		}
		for i, c := range *q { // in queue order already

			if c.place != i+1 {
				c.place = i + 1
				out = append(out, told{c, i + 1})
			}
		}
	}
	clear(h.placesDirty)
	h.mu.Unlock()
	for _, t := range out {
		t.c.mu.Lock()
		h.mu.Lock()
		still := t.c.state == StateWaiting && t.c.place == t.place
		h.mu.Unlock()
		if still {
			t.c.visitors.deliver(Frame{Type: FramePlace, Seq: t.c.seq, Conversation: t.c.id, Position: t.place})
		}
		t.c.mu.Unlock()
	}
}
