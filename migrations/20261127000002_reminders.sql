-- Reminders: two columns the reducer derives from the log (they are part of the fold, so
-- `replay` checks them), and a partial index so the reminder sweep reads only the requests
-- whose next reminder has fallen due, however many requests exist.

ALTER TABLE capacity.capacity_requests
    ADD COLUMN reminders_sent  integer NOT NULL DEFAULT 0 CHECK (reminders_sent >= 0),
    ADD COLUMN reminder_due_at timestamptz;

CREATE INDEX capacity_requests_reminder_due
    ON capacity.capacity_requests (reminder_due_at)
    WHERE reminder_due_at IS NOT NULL;
