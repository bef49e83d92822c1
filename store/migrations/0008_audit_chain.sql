-- The audit trail (issue 19, PCI DSS 10.2, 10.3, 10.5.1): one row a record,
-- each holding the SHA-256 of the previous one, so that a changed, removed
-- or inserted record breaks the chain `gateway audit verify` walks.
CREATE TABLE audit (
    seq      INTEGER PRIMARY KEY,   -- 1, 2, 3 … in the order written
    at       INTEGER NOT NULL,      -- unix milliseconds
    actor    TEXT NOT NULL,         -- who: a login (redacted), "system", "cli"
    action   TEXT NOT NULL,         -- what: sign_in, lockout, secure_input_start …
    outcome  TEXT NOT NULL,         -- success, failure, denied …
    source   TEXT NOT NULL,         -- the source address, or "local"
    target   TEXT NOT NULL,         -- what it was done to (redacted)
    detail   TEXT NOT NULL,         -- (redacted)
    prev     BLOB NOT NULL,         -- hash of record seq-1 (32 zero bytes for the first)
    hash     BLOB NOT NULL
) STRICT;

CREATE INDEX audit_at ON audit(at);

-- Append-only: no record is ever changed, and none younger than 12 months
-- (plus a day of slack for clocks) is ever removed, whatever the caller.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;

CREATE TRIGGER audit_retained BEFORE DELETE ON audit
WHEN OLD.at > (unixepoch('now') - 366 * 86400) * 1000
BEGIN
    SELECT RAISE(ABORT, 'audit records are kept at least 12 months');
END;
