-- Message bodies move into their event's row: a message then dirties one
-- page of one table instead of a page in each of two, which halves what
-- every commit writes to the WAL and what checkpoints copy back.
ALTER TABLE events ADD COLUMN body BLOB; -- redacted text, sealed by store/body.go; NULL: none
UPDATE events SET body = (SELECT m.body FROM messages m WHERE m.conversation = events.conversation AND m.seq = events.seq);
DROP TABLE messages;
