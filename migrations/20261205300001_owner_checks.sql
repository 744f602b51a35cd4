-- When the owner sweep last asked Slack (`users.info`) whether a decision owner's account
-- is still active (issue 13: a deactivation whose `user_change` event never reached us).
-- One row per person. A sweep claims a person by moving `checked_at` forward in the same
-- statement that finds them due, so two replicas never ask about the same person in the
-- same period and nobody is asked about more than once per period. Bookkeeping for the
-- sweep, not a record: rows are updated in place (what was found is recorded as
-- `owner_deactivated` events).
CREATE TABLE capacity.owner_checks (
    user_id    text PRIMARY KEY,
    checked_at timestamptz NOT NULL
);
