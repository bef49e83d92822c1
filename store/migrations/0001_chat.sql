-- Conversations, their participants, and the events of each conversation in
-- order. Message bodies live in messages, always redacted.
CREATE TABLE conversations (
    id          TEXT PRIMARY KEY,
    service     TEXT NOT NULL,
    token_hash  BLOB NOT NULL,
    state       TEXT NOT NULL,            -- waiting, active, ended
    agent       TEXT NOT NULL DEFAULT '', -- the agent handling it, if any
    created_at  INTEGER NOT NULL,         -- unix milliseconds
    ended_at    INTEGER NOT NULL DEFAULT 0,
    last_seq    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX conversations_state ON conversations(state);

CREATE TABLE participants (
    conversation TEXT NOT NULL REFERENCES conversations(id),
    kind         TEXT NOT NULL,           -- visitor, agent
    name         TEXT NOT NULL,
    joined_at    INTEGER NOT NULL,
    left_at      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation, kind, name, joined_at)
) STRICT;

CREATE TABLE events (
    conversation TEXT NOT NULL REFERENCES conversations(id),
    seq          INTEGER NOT NULL,
    type         TEXT NOT NULL,
    author       TEXT NOT NULL DEFAULT '', -- visitor, agent, system
    author_name  TEXT NOT NULL DEFAULT '',
    ref          INTEGER NOT NULL DEFAULT 0, -- message_update: the message's seq
    client_id    TEXT NOT NULL DEFAULT '', -- message: the author's id for it
    at           INTEGER NOT NULL,
    PRIMARY KEY (conversation, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE messages (
    conversation TEXT NOT NULL,
    seq          INTEGER NOT NULL,        -- the seq of its message event
    body         BLOB NOT NULL,           -- redacted text, sealed by store/body.go
    PRIMARY KEY (conversation, seq)
) STRICT, WITHOUT ROWID;
