-- App Home (issue 12).
--
-- Slack sends `app_home_opened` each time a person opens the app's Home tab, and nothing when
-- they leave it. One row per person who ever opened it: when they last did, the view Slack
-- gave back for it (a click on Home must come from that view), and what was last published.
--
-- `wanted` counts changes that concern this Home (bumped after request effects are
-- delivered, never inside an event's transaction); `rendered` is the `wanted` a published
-- render had read before it read the requests, `reading` the one the render in flight read.
-- A Home needs publishing while wanted > rendered, so a change that lands while a render is
-- in flight is never lost; a Home already waiting (wanted > rendered, and no render has read
-- that count yet) is not bumped again, so a burst writes each Home's row once.
CREATE TABLE capacity.home_views (
    user_id       text PRIMARY KEY,
    opened_at     timestamptz NOT NULL,
    view_id       text,
    wanted        bigint NOT NULL DEFAULT 1,
    rendered      bigint NOT NULL DEFAULT 0,
    reading       bigint NOT NULL DEFAULT 0,
    -- sha256 of the last published view: an identical render is not sent again.
    content_hash  text,
    published_at  timestamptz
);

-- "Which Homes are open" is a range over opened_at.
CREATE INDEX home_views_opened ON capacity.home_views (opened_at);

-- Home rows live in a lane of their own, below every request's lanes: they belong to no
-- request (like the weekly digest's) and name their user in the effect.
ALTER TABLE capacity.outbox
    DROP CONSTRAINT outbox_lane_check,
    ADD CONSTRAINT outbox_lane_check CHECK (lane IN ('slack', 'linear', 'home')) NOT VALID,
    DROP CONSTRAINT outbox_subject,
    ADD CONSTRAINT outbox_subject CHECK (
        (request_id IS NULL) = (event_id IS NULL)
        AND (request_id IS NOT NULL
             OR effect->>'type' IN ('post_weekly_digest', 'publish_home'))) NOT VALID;

-- At most one pending publish per person: a burst of changes finds the row already there
-- (INSERT … ON CONFLICT DO NOTHING) and is folded into it.
CREATE UNIQUE INDEX outbox_pending_home ON capacity.outbox ((effect->>'user'))
    WHERE status = 'pending' AND lane = 'home';

-- The worker claims due Home rows by due time, only after the request effects.
CREATE INDEX outbox_pending_homes ON capacity.outbox (next_attempt_at, id)
    WHERE status = 'pending' AND lane = 'home';
