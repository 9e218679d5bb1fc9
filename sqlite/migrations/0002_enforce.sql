-- Enforcement: what each token has spent, revocation, idempotent charges and service keys.

ALTER TABLE tokens ADD COLUMN credits_spent INTEGER NOT NULL DEFAULT 0 CHECK (credits_spent >= 0);
ALTER TABLE tokens ADD COLUMN revoked_at TEXT;

-- One line per (token, requestId): a retried ChargeJWT returns this outcome
-- instead of charging again.
CREATE TABLE charges (
    jti             TEXT    NOT NULL REFERENCES tokens (jti),
    request_id      TEXT    NOT NULL,
    method          TEXT    NOT NULL,
    credits         INTEGER NOT NULL,
    outcome         TEXT    NOT NULL, -- ok or an error code
    message         TEXT    NOT NULL DEFAULT '',
    token_remaining INTEGER,          -- NULL: the token has no credit limit
    balance         INTEGER NOT NULL,
    time            TEXT    NOT NULL,
    PRIMARY KEY (jti, request_id)
);

-- Keys of the operator's own services, which call VerifyJWT and ChargeJWT.
-- The secret is 256 random bits, so a fast hash (SHA-256) is enough.
CREATE TABLE service_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL COLLATE NOCASE,
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
-- A name is unique among active keys, so a revoked key's name can be reused.
CREATE UNIQUE INDEX service_keys_active_name ON service_keys (name) WHERE revoked_at IS NULL;
