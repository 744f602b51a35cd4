-- The outbox is updated once or twice per row within seconds of its insert (claimed, then
-- delivered), so it gathers dead tuples fast, and the partial indexes the claim walks
-- (`status = 'pending'`) keep entries for delivered rows until a vacuum removes them. With
-- the default thresholds (20% of the table) a busy outbox of a million delivered rows waits
-- for 200,000 dead rows before a vacuum; claims slow down meanwhile. Vacuum it after 1%.
ALTER TABLE capacity.outbox SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01
);

-- Every click looks up its idempotency key; statements are prepared once per connection and
-- their cached plans follow the statistics. Keep them current while the log grows.
ALTER TABLE capacity.capacity_request_events SET (autovacuum_analyze_scale_factor = 0.02);
