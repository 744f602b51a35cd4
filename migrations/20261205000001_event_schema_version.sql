-- Every event records the schema version of its payload, so code written later reads old
-- logs through one upcaster (`domain::upcast`) instead of guessing. Rows written before this
-- migration are version 1; the application writes the current version explicitly.
-- ADD COLUMN with a constant default rewrites no row, so the append-only triggers (row-level
-- UPDATE/DELETE, statement-level TRUNCATE) neither fire nor need lifting.
ALTER TABLE capacity.capacity_request_events
    ADD COLUMN schema_version smallint NOT NULL DEFAULT 1 CHECK (schema_version >= 1);
