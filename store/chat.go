package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Conversation is one chat.
type Conversation struct {
	ID        string
	Service   string
	TokenHash []byte // hash of the visitor's resume token
	State     string // the chat package's; the store keeps it as given
	Agent     string // login of the agent handling it, if any
	Created   time.Time
	Ended     time.Time // zero while it is open
	LastSeq   int64     // the seq of its latest event; read, never written
	Visitor   string    // the site's id of the visitor, if it gave one (for erasure)
}

// Event is one entry of a conversation's history. Seq counts from 1 in each
// conversation. A "message" event carries its (redacted) Text; a
// "message_update" event refers to the message it replaces by Ref and
// carries the new Text.
type Event struct {
	Conversation string
	Seq          int64
	Type         string
	Author       string // visitor, agent, system
	AuthorName   string
	Ref          int64
	ClientID     string // message: the id its author gave it, for deduplication
	Text         string
	At           time.Time
}

// Event types that carry a body.
const (
	EventMessage       = "message"
	EventMessageUpdate = "message_update"
)

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// CreateConversation inserts c.
func (tx *Tx) CreateConversation(c Conversation) error {
	_, err := tx.exec(`INSERT INTO conversations (id, service, token_hash, state, agent, created_at, visitor)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, c.ID, c.Service, c.TokenHash, c.State, c.Agent, millis(c.Created), c.Visitor)
	if err != nil {
		return fmt.Errorf("store: create conversation: %w", err)
	}
	return nil
}

// SetState records a conversation's state and agent, and when it ended: the
// zero time while it is open.
func (tx *Tx) SetState(id, state, agent string, ended time.Time) error {
	res, err := tx.exec(`UPDATE conversations SET state = ?, agent = ?, ended_at = ? WHERE id = ?`, state, agent, millis(ended), id)
	if err != nil {
		return fmt.Errorf("store: set state: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Join records that a participant joined a conversation.
func (tx *Tx) Join(conversation, kind, name string, at time.Time) error {
	_, err := tx.exec(`INSERT OR IGNORE INTO participants (conversation, kind, name, joined_at) VALUES (?, ?, ?, ?)`,
		conversation, kind, name, millis(at))
	if err != nil {
		return fmt.Errorf("store: join: %w", err)
	}
	return nil
}

// Leave records that a participant left a conversation.
func (tx *Tx) Leave(conversation, kind, name string, at time.Time) error {
	_, err := tx.exec(`UPDATE participants SET left_at = ? WHERE conversation = ? AND kind = ? AND name = ? AND left_at = 0`,
		millis(at), conversation, kind, name)
	if err != nil {
		return fmt.Errorf("store: leave: %w", err)
	}
	return nil
}

// AppendEvent adds e to its conversation's history. A message event (or any
// event with a text) stores its text as a body; a message_update replaces the
// body of the message e.Ref.
func (tx *Tx) AppendEvent(e Event) error {
	var body []byte // NULL: no text
	if e.Type == EventMessage || (e.Text != "" && e.Type != EventMessageUpdate) {
		// a message, or a system event with a (redacted) text
		var err error
		if body, err = tx.sealBody(e.Conversation, e.Seq, e.Text); err != nil {
			return fmt.Errorf("store: append event: %w", err)
		}
	}
	if _, err := tx.exec(`INSERT INTO events (conversation, seq, type, author, author_name, ref, client_id, at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Conversation, e.Seq, e.Type, e.Author, e.AuthorName, e.Ref, e.ClientID, millis(e.At), body); err != nil {
		return fmt.Errorf("store: append event: %w", err)
	}
	if e.Type == EventMessageUpdate {
		// The new text is sealed for the message's row, where it is stored.
		sealed, err := tx.sealBody(e.Conversation, e.Ref, e.Text)
		if err != nil {
			return fmt.Errorf("store: update message: %w", err)
		}
		if _, err := tx.exec(`UPDATE events SET body = ? WHERE conversation = ? AND seq = ? AND type != ?`,
			sealed, e.Conversation, e.Ref, EventMessageUpdate); err != nil {
			return fmt.Errorf("store: update message: %w", err)
		}
	}
	return nil
}

// Conversation reads one conversation.
func (s *Store) Conversation(ctx context.Context, id string) (Conversation, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE id = ?`, id)
	c, err := scanConversation(row)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// OpenConversations returns every conversation not ended (no end time was
// set), oldest first.
func (s *Store) OpenConversations(ctx context.Context) ([]Conversation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+conversationColumns+`
		FROM conversations WHERE ended_at = 0 ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: open conversations: %w", err)
	}
	defer rows.Close()
	var out []Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// conversationColumns are the columns scanConversation reads. The latest
// seq is looked up in events (one step down its primary key) rather than
// kept in conversations: updating it on every event dirtied a third page
// per message, a third more for every commit to write and checkpoint.
const conversationColumns = `id, service, token_hash, state, agent, created_at, ended_at,
	(SELECT COALESCE(MAX(seq), 0) FROM events WHERE events.conversation = conversations.id), visitor`

type scanner interface{ Scan(...any) error }

func scanConversation(r scanner) (Conversation, error) {
	var c Conversation
	var created, ended int64
	if err := r.Scan(&c.ID, &c.Service, &c.TokenHash, &c.State, &c.Agent, &created, &ended, &c.LastSeq, &c.Visitor); err != nil {
		return c, err
	}
	c.Created, c.Ended = fromMillis(created), fromMillis(ended)
	return c, nil
}

// Events returns up to limit events of a conversation with Seq > since, in
// order. A message event carries the message's current text (after any
// update); a message_update carries the text it set.
func (s *Store) Events(ctx context.Context, conversation string, since int64, limit int) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT e.seq, e.type, e.author, e.author_name, e.ref, e.client_id, e.at,
		  CASE e.type WHEN ? THEN (SELECT m.body FROM events m WHERE m.conversation = e.conversation AND m.seq = e.ref) ELSE e.body END
		FROM events e WHERE e.conversation = ? AND e.seq > ? ORDER BY e.seq LIMIT ?`,
		EventMessageUpdate, conversation, since, limit)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e := Event{Conversation: conversation}
		var at int64
		var body []byte
		if err := rows.Scan(&e.Seq, &e.Type, &e.Author, &e.AuthorName, &e.Ref, &e.ClientID, &at, &body); err != nil {
			return nil, fmt.Errorf("store: events: %w", err)
		}
		e.At = fromMillis(at)
		if body != nil {
			row := e.Seq // where the body is stored: a message_update's is its message's
			if e.Type == EventMessageUpdate {
				row = e.Ref
			}
			if e.Text, err = s.openBody(ctx, conversation, row, body); err != nil {
				return nil, err
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// CountEvents counts the events of type typ of a conversation by their
// author name (which system events use as a tag).
func (s *Store) CountEvents(ctx context.Context, conversation, typ string) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT author_name, count(*) FROM events WHERE conversation = ? AND type = ? GROUP BY author_name`,
		conversation, typ)
	if err != nil {
		return nil, fmt.Errorf("store: count events: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			return nil, err
		}
		out[name] = n
	}
	return out, rows.Err()
}
