-- A conversation's latest seq is read from events (MAX(seq) on its primary
-- key) instead of being updated in conversations on every event.
ALTER TABLE conversations DROP COLUMN last_seq;
