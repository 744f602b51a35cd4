-- Ways in: the message shortcut's reply in its source thread, and replies to CR-n mentions.

-- The reply naming the request in the thread it was made from, once posted: a retried
-- delivery finds it and does not post twice.
ALTER TABLE capacity.request_links ADD COLUMN source_reply_ts text;

-- One reply per thread that mentioned a request. The key is the thread; the row keeps only
-- the request numbers the first mention named (never the message's text), and is written in
-- the same transaction as the outbox row that posts the reply.
CREATE TABLE capacity.mention_replies (
    channel     text        NOT NULL,
    thread_ts   text        NOT NULL,
    numbers     bigint[]    NOT NULL CHECK (cardinality(numbers) > 0),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (channel, thread_ts)
);

-- A mention's reply follows no event, like the weekly digest: its outbox row names neither
-- a request nor an event (the App Home's publish rows, allowed just before, stay allowed).
ALTER TABLE capacity.outbox DROP CONSTRAINT outbox_subject;
ALTER TABLE capacity.outbox
    ADD CONSTRAINT outbox_subject CHECK (
        (request_id IS NULL) = (event_id IS NULL)
        AND (request_id IS NOT NULL
             OR effect->>'type' IN ('post_weekly_digest', 'publish_home', 'post_mention_reply'))) NOT VALID;
