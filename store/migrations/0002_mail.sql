-- Where the ingest of each mailbox stands: the source folder's UIDVALIDITY,
-- the last UID handled, and a UID whose redacted copy may have been
-- delivered without its original being removed yet.
CREATE TABLE mail_state (
    mailbox      TEXT PRIMARY KEY,
    uidvalidity  INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL DEFAULT 0,
    pending_uid  INTEGER NOT NULL DEFAULT 0
) STRICT;
