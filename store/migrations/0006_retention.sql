-- The visitor id a site gives a conversation (its customer's id, optional),
-- so that every conversation of a visitor can be erased on request.
ALTER TABLE conversations ADD COLUMN visitor TEXT NOT NULL DEFAULT '';
CREATE INDEX conversations_visitor ON conversations(visitor) WHERE visitor != '';
CREATE INDEX conversations_ended ON conversations(ended_at) WHERE ended_at != 0;

-- What was erased or purged, when and by whom: never a text. Kept when
-- transcripts go.
CREATE TABLE erasures (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,          -- unix milliseconds
    action  TEXT NOT NULL,             -- erase, purge
    actor   TEXT NOT NULL,             -- who asked: an operator's name, "retention"
    subject TEXT NOT NULL,             -- a conversation id, or sha256: of a visitor id
    count   INTEGER NOT NULL DEFAULT 0 -- conversations removed
) STRICT;
