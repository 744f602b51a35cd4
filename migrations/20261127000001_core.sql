-- The workflow core: the projection, the append-only event log and the outbox.
-- Everything lives in its own schema so Supabase's Data API (which exposes `public`) never
-- serves it.

CREATE SCHEMA IF NOT EXISTS capacity;

CREATE SEQUENCE capacity.request_number_seq START 1;

CREATE TABLE capacity.capacity_requests (
    id                    uuid PRIMARY KEY,
    number                bigint NOT NULL UNIQUE CHECK (number > 0),
    state                 text NOT NULL CHECK (state IN (
                              'SUBMITTED', 'COMMERCIAL_APPROVAL_REQUIRED', 'TECHNICAL_REVIEW_REQUIRED',
                              'CUSTOMER_CONFIRMATION_REQUIRED', 'PROVISIONING_IN_PROGRESS',
                              'READY_FOR_CUSTOMER', 'ACTIVATED', 'EXPIRED', 'CANCELLED', 'FAILED')),
    version               integer NOT NULL CHECK (version >= 1),
    seq                   integer NOT NULL CHECK (seq >= 1),
    requester             text NOT NULL,
    requester_team        text NOT NULL,
    commercial_owner      text,
    technical_owner       text,
    customer              text NOT NULL,
    details               jsonb NOT NULL,
    finance_required      boolean NOT NULL,
    approvals             jsonb NOT NULL,
    deadline_kind         text CHECK (deadline_kind IN ('customer_confirmation', 'activation')),
    deadline_at           timestamptz,
    expired_from          text CHECK (expired_from IN ('customer_confirmation', 'activation')),
    capacity_committed_at timestamptz,
    capacity_ended_at     timestamptz,
    capacity_released     boolean NOT NULL DEFAULT false,
    pending_cancellation  jsonb,
    close_reason          text,
    state_entered_at      timestamptz NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    CHECK ((deadline_kind IS NULL) = (deadline_at IS NULL))
);

-- The deadline sweep asks "which open deadlines are due"; a partial index keeps that to the
-- rows that have a deadline at all, ordered by when they fall due.
CREATE INDEX capacity_requests_deadline_due
    ON capacity.capacity_requests (deadline_at)
    WHERE deadline_at IS NOT NULL;

CREATE INDEX capacity_requests_open_state
    ON capacity.capacity_requests (state, updated_at)
    WHERE state NOT IN ('ACTIVATED', 'CANCELLED', 'FAILED');

CREATE TABLE capacity.capacity_request_events (
    id                 uuid PRIMARY KEY,
    request_id         uuid NOT NULL REFERENCES capacity.capacity_requests (id),
    seq                integer NOT NULL CHECK (seq >= 1),
    kind               text NOT NULL,
    payload            jsonb NOT NULL,
    actor              text NOT NULL,
    actor_team         text,
    actor_detail       jsonb NOT NULL,
    policy             jsonb NOT NULL,
    version_after      integer NOT NULL,
    state_after        text NOT NULL,
    deadline_after     timestamptz,
    cost_at_risk_cents bigint,
    idempotency_key    text NOT NULL,
    envelope_id        text,
    occurred_at        timestamptz NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT capacity_request_events_request_seq UNIQUE (request_id, seq),
    CONSTRAINT capacity_request_events_idempotency UNIQUE (idempotency_key)
);

-- The log is append-only at the database level, whoever connects.
CREATE FUNCTION capacity.reject_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'capacity_request_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER capacity_request_events_no_update_delete
    BEFORE UPDATE OR DELETE ON capacity.capacity_request_events
    FOR EACH ROW EXECUTE FUNCTION capacity.reject_event_change();

CREATE TRIGGER capacity_request_events_no_truncate
    BEFORE TRUNCATE ON capacity.capacity_request_events
    FOR EACH STATEMENT EXECUTE FUNCTION capacity.reject_event_change();

-- Slack and Linear side effects, written in the event's transaction and delivered later.
CREATE TABLE capacity.outbox (
    id              bigserial PRIMARY KEY,
    request_id      uuid NOT NULL REFERENCES capacity.capacity_requests (id),
    event_id        uuid NOT NULL REFERENCES capacity.capacity_request_events (id),
    effect          jsonb NOT NULL,
    -- Slack and Linear are delivered in order within their own lane, so a Linear outage
    -- never holds up a request's Slack messages.
    lane            text NOT NULL DEFAULT 'slack' CHECK (lane IN ('slack', 'linear')),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    -- A worker leases a row while it talks to Slack, outside any transaction; a worker that
    -- dies leaves a lease that simply runs out, and the row is delivered again.
    claimed_by      text,
    claimed_until   timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz
);

CREATE INDEX outbox_pending ON capacity.outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX outbox_pending_by_request ON capacity.outbox (request_id, lane, id) WHERE status = 'pending';

-- Where each request lives in Slack and Linear. Not part of the fold: these come from
-- delivering the outbox, not from decisions.
CREATE TABLE capacity.request_links (
    request_id      uuid PRIMARY KEY REFERENCES capacity.capacity_requests (id),
    slack_channel   text,
    slack_ts        text,
    permalink       text,
    linear_issue_id text,
    linear_url      text,
    updated_at      timestamptz NOT NULL
);
