-- Failed-login counters, shared by every instance on the database (core's
-- Throttle with a shared store). Keys are core's, hashed (SHA-256, hex):
-- a guesser's usernames are neither kept as given nor allowed to be large.
CREATE TABLE throttle (
    key      text        PRIMARY KEY,
    failures integer     NOT NULL,
    last_at  timestamptz NOT NULL,
    until_at timestamptz -- NULL: not locked out
);
CREATE INDEX throttle_last ON throttle (last_at);
