-- The card vault (issue 23): the cards a vault process keeps, each under a
-- random token. The number and expiry are sealed by store/body.go (bound to
-- the row "vault/" || token); the security code is never kept. fingerprint
-- is an HMAC-SHA256, under the index key below, of the site and the number,
-- so that the same card for the same site finds its token without the
-- number being stored in the clear, or hashed in a way one could guess.
CREATE TABLE vault_cards (
    token        TEXT PRIMARY KEY,        -- tok_…, random, made by the vault
    site         TEXT NOT NULL,
    index_key    INTEGER NOT NULL,        -- the id of the index key of its fingerprint
    fingerprint  BLOB NOT NULL,
    brand        TEXT NOT NULL DEFAULT '',
    last4        TEXT NOT NULL DEFAULT '',
    body         BLOB NOT NULL,           -- number and expiry, sealed by store/body.go
    created_at   INTEGER NOT NULL,        -- unix milliseconds
    expires_at   INTEGER NOT NULL,        -- unix milliseconds: not read after, purged after
    kept         INTEGER NOT NULL DEFAULT 0 -- 0 pending (tokenised before the validation), 1 kept (accepted)
) STRICT, WITHOUT ROWID;

CREATE INDEX vault_cards_fingerprint ON vault_cards(site, index_key, fingerprint);
CREATE INDEX vault_cards_expires ON vault_cards(expires_at);

-- The keys of the fingerprints: random, the first made with the first card,
-- a new one by each rotation (which computes every fingerprint again, then
-- removes the older keys), wrapped by the KEK like a data key (never in the
-- clear), re-wrapped by a rotation.
CREATE TABLE index_keys (
    id          INTEGER PRIMARY KEY,      -- 1, 2, 3 …: the newest fingerprints new cards
    kek         TEXT NOT NULL,            -- the ID of the KEK that wraps it
    wrapped     BLOB NOT NULL,
    created_at  INTEGER NOT NULL          -- unix milliseconds
) STRICT;

-- A re-encryption walks the events, then the vault's cards: tbl is the
-- table it stands in. In vault_cards, conversation is the last token done.
ALTER TABLE key_rotation ADD COLUMN tbl TEXT NOT NULL DEFAULT 'events' CHECK (tbl IN ('events', 'vault_cards'));
