-- +goose Up
-- The call queue rewrites contacts rows all day: a claim and an outcome per
-- call, neither of them a HOT update (due_at and lease_owner are indexed).
-- Their dead index entries pile up at the head of contacts_queue and in each
-- agent's range of contacts_lease, and every claim walks them until a vacuum
-- removes them. With the default settings that vacuum waits for a fifth of
-- the table to change (200,000 rows at a million contacts, minutes of calls);
-- here it runs after a fixed 20,000 changed rows whatever the table's size.
ALTER TABLE contacts SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 20000,
    autovacuum_analyze_scale_factor = 0.05);

-- +goose Down
ALTER TABLE contacts RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,
    autovacuum_analyze_scale_factor);
