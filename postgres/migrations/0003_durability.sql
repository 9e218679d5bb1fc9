-- One row per open store (jwtgate instance): a charge batch commits without
-- waiting for its WAL flush, so that the row locks it holds are released at
-- once, and is answered only after a synchronous write of this row has
-- flushed the WAL past its commit (postgres/charges.go).
CREATE TABLE durability (
    id text   PRIMARY KEY,
    n  bigint NOT NULL DEFAULT 0
);
