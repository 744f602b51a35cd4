-- Away, snooze, nudge, break-glass (issue 13).
--
-- `attention` holds what the fold derives for them (delegations, snooze, last nudge, the
-- forced move and its review); `review_due_at` copies the review's next reminder time out
-- of it so the review sweep reads through a partial index, as the reminder sweep does.
-- ADD COLUMN with a constant default rewrites no row.
ALTER TABLE capacity.capacity_requests
    ADD COLUMN attention     jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN review_due_at timestamptz;

CREATE INDEX capacity_requests_review_due
    ON capacity.capacity_requests (review_due_at)
    WHERE review_due_at IS NOT NULL;

-- Absences: their own append-only record. A person going away is one `away` row; coming
-- back (by `/capacity back` or because the date passed) is one `back` row naming it, at
-- most one per absence. Rows are never updated: an absence is active while it has no
-- `back` row.
CREATE TABLE capacity.absences (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('away', 'back')),
    user_id     text NOT NULL,
    -- For `away`: who decides meanwhile and the last day away (in the calendar's zone).
    delegate    text,
    until       date,
    -- For `back`: the `away` row it ends; unique, so an absence ends once however many
    -- replicas sweep.
    ends        uuid UNIQUE REFERENCES capacity.absences (id),
    ended_by    text,
    recorded_at timestamptz NOT NULL,
    CHECK ((kind = 'away') = (delegate IS NOT NULL AND until IS NOT NULL AND ends IS NULL)),
    CHECK ((kind = 'back') = (ends IS NOT NULL))
);

CREATE INDEX absences_away_until ON capacity.absences (until) WHERE kind = 'away';
CREATE INDEX absences_user ON capacity.absences (user_id, recorded_at);

CREATE FUNCTION capacity.absences_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'capacity.absences is append-only: % is not allowed', TG_OP;
END;
$$;

CREATE TRIGGER absences_no_update_delete
    BEFORE UPDATE OR DELETE ON capacity.absences
    FOR EACH ROW EXECUTE FUNCTION capacity.absences_append_only();

CREATE TRIGGER absences_no_truncate
    BEFORE TRUNCATE ON capacity.absences
    FOR EACH STATEMENT EXECUTE FUNCTION capacity.absences_append_only();

-- An absence's return finds the requests delegated from that person.
CREATE INDEX capacity_requests_delegations
    ON capacity.capacity_requests USING gin ((attention -> 'delegations') jsonb_path_ops);
