-- `capacity-bot report` reads the whole log once per run: a year is ~300k events.
--
-- Stage visits come from each request's events in sequence order, of which the report needs
-- five narrow columns. This index holds them in that order, so the report reads ~30 MB of
-- index (an index-only scan, no sort) instead of the whole ~250 MB table with its payloads
-- and policies. It costs each append one more index entry.
CREATE INDEX capacity_request_events_report_visits
    ON capacity.capacity_request_events (request_id, seq)
    INCLUDE (occurred_at, state_after, kind, actor);

-- Timeouts, forced transitions and escalations are a few in a thousand events; the report
-- counts them through this partial index instead of scanning the log. The query in
-- src/store/report.rs repeats this predicate word for word, so the planner can use it.
CREATE INDEX capacity_request_events_report_marks
    ON capacity.capacity_request_events (occurred_at)
    WHERE kind IN ('customer_confirmation_timeout', 'activation_timeout', 'forced_transition')
       OR (kind = 'reminder_sent' AND payload->>'escalation' = 'true');
