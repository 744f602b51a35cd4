-- Pacing the outbox at Slack's rate limits (issue 15).
--
-- `carried_by`: a root-message update made redundant by a later rendering of the same root
-- (one `chat.update` carries the latest state for every update waiting) is marked delivered
-- with the id of the row whose call carried it, so an operator reading the outbox sees why
-- it made no call of its own.
--
-- `held_by_outage`: the row is waiting out a backoff after Slack failed (5xx, timeout,
-- unreachable), not a rate limit. Once Slack answers again, these rows are brought forward
-- instead of sitting out the rest of a backoff of up to five minutes; a `Retry-After` is
-- always honoured.
--
-- Both are constant defaults (NULL, false): no table rewrite.
ALTER TABLE capacity.outbox
    ADD COLUMN carried_by bigint,
    ADD COLUMN held_by_outage boolean NOT NULL DEFAULT false;
