-- Version 2 changed the SQLite claim indexes only (see migrations/sqlite/0002_claim_indexes.sql); both backends
-- keep the same migration versions, so this one changes nothing.
SELECT 1;
