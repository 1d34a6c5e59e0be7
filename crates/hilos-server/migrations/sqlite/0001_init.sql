-- Initial schema of the Hilos contact server on SQLite.
--
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC): they
-- round-trip exactly at the precision PostgreSQL keeps, over any year.
-- Ids that clients see for tags and users are AUTOINCREMENT so a deleted id
-- is never handed out again.

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER NOT NULL REFERENCES accounts (id),
    -- Unique across all accounts, ignoring ASCII case, so one mailbox is one
    -- user and admin commands can find it however it is typed.
    email        TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    first_name   TEXT    NOT NULL DEFAULT '',
    last_name    TEXT    NOT NULL DEFAULT '',
    date_joined  INTEGER NOT NULL
);
CREATE INDEX users_account_id ON users (account_id);

CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- SHA-256 of the key, lowercase hex; the key itself is never stored.
    key_hash    TEXT    NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX tokens_user_id ON tokens (user_id);

CREATE TABLE contacts (
    id               TEXT    PRIMARY KEY NOT NULL,  -- UUID, lowercase hyphenated
    account_id       INTEGER NOT NULL REFERENCES accounts (id),
    phone            TEXT    NOT NULL,
    canonical_phone  TEXT    NOT NULL,
    first_name       TEXT,
    last_name        TEXT,
    email            TEXT,
    external_url     TEXT,
    meta             TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(meta)),
    source           TEXT    NOT NULL,
    created_by       INTEGER NOT NULL REFERENCES users (id),
    created_on       INTEGER NOT NULL,
    last_updated_on  INTEGER NOT NULL,
    -- The upsert key: one contact per phone per account.
    UNIQUE (account_id, canonical_phone)
);

CREATE TABLE tags (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    name        TEXT    NOT NULL,
    -- Lowercased name (Unicode, computed by the server); tags match on it.
    name_key    TEXT    NOT NULL,
    UNIQUE (account_id, name_key)
);

CREATE TABLE contact_tags (
    contact_id  TEXT    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    tag_id      INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    PRIMARY KEY (contact_id, tag_id)
);
CREATE INDEX contact_tags_tag_id ON contact_tags (tag_id);

CREATE TABLE contact_assignees (
    contact_id  TEXT    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    position    INTEGER NOT NULL,
    PRIMARY KEY (contact_id, user_id)
);
CREATE INDEX contact_assignees_user_id ON contact_assignees (user_id);
