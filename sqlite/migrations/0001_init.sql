-- Times are UTC text in a fixed-width RFC 3339 form (2006-01-02T15:04:05.000000000Z),
-- so they sort as text and read well in the sqlite3 shell.

CREATE TABLE accounts (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    -- 2^53-1: the largest balance every JSON client reads exactly.
    credits    INTEGER NOT NULL DEFAULT 0 CHECK (credits BETWEEN 0 AND 9007199254740991),
    created_at TEXT    NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts (id),
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL
);
CREATE INDEX users_account ON users (account_id);

CREATE TABLE api_keys (
    id          TEXT    PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    secret_hash TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_key BLOB NOT NULL,
    public_key  BLOB,
    created_at  TEXT NOT NULL,
    retired_at  TEXT
);
-- At most one active (unretired) key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (coalesce(retired_at, '')) WHERE retired_at IS NULL;

CREATE TABLE tokens (
    jti             TEXT    PRIMARY KEY,
    kid             TEXT    NOT NULL REFERENCES signing_keys (kid),
    account_id      INTEGER NOT NULL REFERENCES accounts (id),
    user_id         INTEGER NOT NULL REFERENCES users (id),
    api_key_id      TEXT    REFERENCES api_keys (id),
    application     TEXT    NOT NULL DEFAULT '',
    allowed_methods TEXT    NOT NULL DEFAULT '[]', -- JSON array
    max_credits     INTEGER CHECK (max_credits IS NULL OR max_credits >= 1),
    client_ip       TEXT    NOT NULL DEFAULT '',
    issued_at       TEXT    NOT NULL,
    expires_at      TEXT    NOT NULL
);
CREATE INDEX tokens_kid_expires ON tokens (kid, expires_at);
CREATE INDEX tokens_account ON tokens (account_id);

CREATE TABLE usage (
    id          INTEGER PRIMARY KEY,
    time        TEXT    NOT NULL,
    account_id  INTEGER REFERENCES accounts (id),
    user_id     INTEGER REFERENCES users (id),
    application TEXT    NOT NULL DEFAULT '',
    method      TEXT    NOT NULL,
    credits     INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT    NOT NULL,
    client_addr TEXT    NOT NULL DEFAULT '',
    jti         TEXT
);
CREATE INDEX usage_time ON usage (time);
CREATE INDEX usage_account_time ON usage (account_id, time);
