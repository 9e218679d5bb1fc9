-- A signing key is published from created_at and signs from activates_at,
-- later, so that every instance's key set holds it before a token names it.
-- Keys made before this migration signed from their creation.
ALTER TABLE signing_keys ADD COLUMN activates_at TEXT NOT NULL DEFAULT '';
UPDATE signing_keys SET activates_at = created_at;
CREATE INDEX signing_keys_activates ON signing_keys (activates_at);
