-- Time-series indexes that match the queries the API and the UI run, and cost less per insert.
-- created_at only grows (rows are written in time order), which is what BRIN is for: a few
-- pages of summaries instead of a b-tree entry per row.
DROP INDEX IF EXISTS prediction_log_created_at_idx;
CREATE INDEX IF NOT EXISTS prediction_log_created_at_brin
    ON prediction_log USING brin (created_at);
-- Recent traffic of one model (every monitoring query filters by model_name, then by time).
DROP INDEX IF EXISTS prediction_log_model_created_at_idx;
CREATE INDEX IF NOT EXISTS prediction_log_model_time_idx
    ON prediction_log (model_name, created_at);
