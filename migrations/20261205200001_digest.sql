-- The weekly digest (issue 14).
--
-- One row per week, keyed by the week's slot (the configured weekday and local time as a
-- UTC instant). Every replica computes the same slot, so INSERT … ON CONFLICT DO NOTHING
-- lets exactly one of them record it, together with the outbox row that posts it.
-- The delivery fills in what Slack answered, so a retry after a failed upload does not
-- post the text again.
CREATE TABLE capacity.digests (
    slot        timestamptz PRIMARY KEY,
    channel     text NOT NULL,
    created_at  timestamptz NOT NULL,
    -- The digest message, once posted.
    message_ts  text,
    permalink   text,
    -- The chart, once uploaded and shared (files.completeUploadExternal).
    file_id     text,
    posted_at   timestamptz,
    -- The first slot ever seen is recorded without posting (a new install does not post the
    -- week that ended before it started); the digest starts with the next week.
    baseline    boolean NOT NULL DEFAULT false
);

-- A digest's outbox row belongs to no request: it names its slot in the effect instead.
-- Rows of requests keep both ids; a digest row has neither. NOT VALID: every existing row
-- had both ids (they were NOT NULL), so the table is not scanned under the ALTER's lock;
-- new and updated rows are checked.
ALTER TABLE capacity.outbox
    ALTER COLUMN request_id DROP NOT NULL,
    ALTER COLUMN event_id DROP NOT NULL,
    ADD CONSTRAINT outbox_subject CHECK (
        (request_id IS NULL) = (event_id IS NULL)
        AND (request_id IS NOT NULL OR effect->>'type' = 'post_weekly_digest')) NOT VALID;

-- Pending digest rows are found without walking the per-request heads.
CREATE INDEX outbox_pending_digests ON capacity.outbox (id)
    WHERE status = 'pending' AND request_id IS NULL;
