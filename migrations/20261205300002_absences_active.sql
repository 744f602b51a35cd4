-- The absence sweep found absences due to end by reading every `away` row whose last day
-- had passed and looking each up for its `back` row. The table is append-only, so ended
-- absences stay in that range for good: with a year of them (36,500) the sweep, which runs
-- every minute, read them all each time (59 ms, 146,000 buffers; BENCHMARKS.md).
--
-- `absences_active` holds one row per absence without a `back` row, kept by a trigger on
-- the record in the same transaction as the row that starts or ends it: an `away` row adds
-- one, a `back` row removes the one it ends. A `back` row that loses the race to end an
-- absence (ON CONFLICT (ends) DO NOTHING) is not inserted, so its trigger does not run.
-- The record stays append-only; this table is derived from it, as `capacity_requests` is
-- from the event log, and is rebuilt below from what is recorded.
CREATE TABLE capacity.absences_active (
    absence uuid PRIMARY KEY REFERENCES capacity.absences (id),
    user_id text NOT NULL,
    until   date NOT NULL
);

CREATE INDEX absences_active_until ON capacity.absences_active (until);
CREATE INDEX absences_active_user ON capacity.absences_active (user_id);

CREATE FUNCTION capacity.absences_track_active() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'away' THEN
        INSERT INTO capacity.absences_active (absence, user_id, until)
        VALUES (NEW.id, NEW.user_id, NEW.until);
    ELSE
        DELETE FROM capacity.absences_active WHERE absence = NEW.ends;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER absences_track_active
    AFTER INSERT ON capacity.absences
    FOR EACH ROW EXECUTE FUNCTION capacity.absences_track_active();

INSERT INTO capacity.absences_active (absence, user_id, until)
SELECT a.id, a.user_id, a.until
FROM capacity.absences a
WHERE a.kind = 'away'
  AND NOT EXISTS (SELECT 1 FROM capacity.absences b WHERE b.ends = a.id);
