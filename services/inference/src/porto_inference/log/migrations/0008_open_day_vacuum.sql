-- No insert-triggered autovacuum on the day partitions still being written (today's and those
-- created ahead); the service turns it back on once a day has closed.
--
-- The log is insert-only. Autovacuum vacuums a table after 1,000 + 20 % of its rows have been
-- inserted since the last vacuum (autovacuum_vacuum_insert_threshold and _scale_factor), so
-- today's partition was vacuumed again and again while it grew, on the cores that scored and
-- logged: in bench-api's 60 s log run, an insert vacuum of today's partition cost 0.7 µs per
-- logged row on top of the writer's 2.1. Each partition is instead vacuumed once, after its
-- day ends: the service resets the option on the closed days (Partitions._close_days), and
-- autovacuum, finding a whole day's inserts not vacuumed, vacuums it then. Insert vacuums are
-- what mark pages all-visible for index-only scans (the log's queries use BRIN bitmap scans,
-- which do not need that) and freeze rows early; anti-wraparound vacuums are not affected by
-- this option, and ANALYZE (the planner's statistics) still runs on today's partition.

CREATE OR REPLACE FUNCTION porto_log_partition(day date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    name  text := format('prediction_log_p%s', to_char(day, 'YYYYMMDD'));
    lower timestamptz := (day::timestamp AT TIME ZONE 'UTC');
    upper timestamptz := ((day + 1)::timestamp AT TIME ZONE 'UTC');
BEGIN
    IF to_regclass(quote_ident(name)) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- Rows of this day that reached the default partition move into the new one first (a
    -- partition cannot be attached over rows the default partition holds for its range).
    EXECUTE format(
        'CREATE TABLE %I (LIKE prediction_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
        'WITH (autovacuum_vacuum_insert_threshold = -1)', name);
    EXECUTE format(
        'WITH moved AS (DELETE FROM prediction_log_default WHERE created_at >= $1 '
        'AND created_at < $2 RETURNING *) INSERT INTO %I SELECT * FROM moved', name)
        USING lower, upper;
    EXECUTE format(
        'ALTER TABLE prediction_log ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
        name, lower, upper);
    RETURN name;
END
$$;

-- The day partitions that exist already: all of them (the service's next maintenance, right
-- after the migration, turns insert vacuums back on for the days that have closed).
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN
        SELECT i.inhrelid::regclass FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'prediction_log'::regclass AND c.relname ~ '^prediction_log_p[0-9]{8}$'
    LOOP
        EXECUTE format('ALTER TABLE %s SET (autovacuum_vacuum_insert_threshold = -1)', part);
    END LOOP;
END
$$;
