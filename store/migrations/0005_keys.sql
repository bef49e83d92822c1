-- Encryption at rest. Every body is sealed with AES-256-GCM under a data
-- key (store/body.go); data_keys holds each data key wrapped by a
-- key-encryption key (KEK) from a provider, never in the clear. uses is an
-- upper bound of the encryptions made under the key (reserved in blocks),
-- so a key is retired long before 2^32 random nonces.
CREATE TABLE data_keys (
    id          INTEGER PRIMARY KEY,   -- the key id every sealed body names
    kek         TEXT NOT NULL,         -- the ID of the KEK that wraps it
    wrapped     BLOB NOT NULL,
    created_at  INTEGER NOT NULL,      -- unix milliseconds
    uses        INTEGER NOT NULL DEFAULT 0
) STRICT;

-- A re-encryption of every body under the newest key (gateway keys rotate):
-- where it stands, so that a killed run resumes.
CREATE TABLE key_rotation (
    id           INTEGER PRIMARY KEY CHECK (id = 1), -- at most one at a time
    target       INTEGER NOT NULL,     -- the data key it re-encrypts under
    conversation TEXT NOT NULL DEFAULT '', -- every body up to here is done
    seq          INTEGER NOT NULL DEFAULT 0,
    done         INTEGER NOT NULL DEFAULT 0,
    total        INTEGER NOT NULL DEFAULT 0,
    started_at   INTEGER NOT NULL
) STRICT;

-- Bodies written before this version are plain text: mark them version 0,
-- to be sealed when the store opens (a sealed body starts with version 1).
UPDATE events SET body = CAST(x'00' || body AS BLOB) WHERE body IS NOT NULL;
