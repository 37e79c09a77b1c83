-- +goose Up
-- PostgreSQL's migration 0008 tunes the autovacuum of contacts; SQLite has
-- no such setting (its B-trees keep no dead row versions). Nothing changes
-- here: the migration keeps both engines at the same schema version.
SELECT 1;

-- +goose Down
SELECT 1;
