-- Identity (issue 19): agents' accounts, failed sign-ins by login and the
-- console's sessions. Written by another process too (`gateway users`),
-- so every rule that must hold across processes is read from here.
CREATE TABLE accounts (
    login          TEXT PRIMARY KEY,
    name           TEXT NOT NULL DEFAULT '',
    password_hash  TEXT NOT NULL,
    hash_source    TEXT NOT NULL,           -- config: seeded from the file; local: set by gateway users
    workgroups     TEXT NOT NULL DEFAULT '', -- comma-separated
    rights         TEXT NOT NULL DEFAULT '', -- comma-separated
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,         -- unix milliseconds
    password_at    INTEGER NOT NULL          -- when the password was last set
) STRICT;

-- Failed sign-ins of the accounts above, by login. Unknown logins are
-- counted in the gateway's memory only: the database holds nothing an
-- attacker typed.
CREATE TABLE login_failures (
    login         TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    last_at       INTEGER NOT NULL,
    locked_until  INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

-- Sessions by the SHA-256 of their cookie value: the database never holds a
-- token that would log anyone in.
CREATE TABLE sessions (
    id_hash     BLOB PRIMARY KEY,
    login       TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL             -- the absolute end
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_login ON sessions(login);
