-- The prediction log, partitioned by day and cheap to append to.
--
-- * Declarative range partitions on created_at, one per UTC day (prediction_log_pYYYYMMDD),
--   created ahead by the service (porto_log_partition) and dropped past the retention setting;
--   a DEFAULT partition catches a row no day partition holds, so a write never fails for want
--   of a partition.
-- * features is bytea: the record's JSON text as received (UTF-8). PostgreSQL stores it without
--   parsing it, which is most of what a logged row used to cost (jsonb parsing); the view
--   prediction_log_features gives it back as json for queries by feature name (json, not
--   jsonb: json keeps any value the API accepted, U+0000 included).
-- * No per-row b-tree: BRIN on created_at and on prediction_id (UUIDv7, time-ordered, so each
--   block range holds a narrow band of ids), and a partial index on the labelled rows, which is
--   empty when a row is written. Exactly-once writes come from prediction_log_writes, one row
--   per COPY (see the writer), instead of a unique index entry per logged row.
--
-- An existing, unpartitioned prediction_log is converted in this migration's transaction:
-- every row is copied into the day partition of its created_at, then the old table is dropped.

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
        'CREATE TABLE %I (LIKE prediction_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
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

DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_class
        WHERE oid = to_regclass('prediction_log') AND relkind = 'r'
    ) THEN
        ALTER TABLE prediction_log RENAME TO prediction_log_unpartitioned;
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS prediction_log (
    prediction_id   uuid NOT NULL,               -- UUIDv7: time-ordered
    created_at      timestamptz NOT NULL,
    model_name      text NOT NULL,
    model_version   text NOT NULL,
    endpoint        text NOT NULL,               -- /predict or /predict/batch
    request_id      text,
    record_id       text,                        -- the dataset's id column, when the record had one
    features        bytea NOT NULL,              -- the record's JSON text as received (UTF-8)
    score           double precision NOT NULL,   -- P(class 1)
    predicted_class smallint NOT NULL,
    threshold       double precision NOT NULL,
    latency_ms      real,
    label           smallint,                    -- ground truth from /feedback
    label_time      timestamptz,
    CONSTRAINT prediction_log_class_binary CHECK (predicted_class IN (0, 1)),
    CONSTRAINT prediction_log_label_binary CHECK (label IS NULL OR label IN (0, 1))
) PARTITION BY RANGE (created_at);

CREATE TABLE IF NOT EXISTS prediction_log_default PARTITION OF prediction_log DEFAULT;

CREATE INDEX IF NOT EXISTS prediction_log_time_brin
    ON prediction_log USING brin (created_at);
CREATE INDEX IF NOT EXISTS prediction_log_id_brin
    ON prediction_log USING brin (prediction_id) WITH (pages_per_range = 16);
CREATE INDEX IF NOT EXISTS prediction_log_labelled_idx
    ON prediction_log (model_name, label_time) WHERE label IS NOT NULL;

-- One row per committed COPY: a write whose acknowledgement was lost is retried, finds its key
-- here and is skipped, so no row is logged twice. Rows older than a week are pruned.
CREATE TABLE IF NOT EXISTS prediction_log_writes (
    batch_key   text PRIMARY KEY,
    written_at  timestamptz NOT NULL DEFAULT now()
);

-- Today's partition and the next two exist before any worker writes (the workers keep
-- creating them ahead: see porto_inference.log.partitions).
SELECT porto_log_partition((now() AT TIME ZONE 'UTC')::date + offset_days)
FROM generate_series(0, 2) AS offset_days;

-- The features by name: SELECT features->>'ps_car_13' FROM prediction_log_features WHERE ...
-- (filter on created_at too: the view prunes partitions like the table).
CREATE OR REPLACE VIEW prediction_log_features AS
SELECT prediction_id, created_at, model_name, model_version, endpoint, record_id,
       convert_from(features, 'UTF8')::json AS features,
       score, predicted_class, label, label_time
FROM prediction_log;

DO $$
DECLARE
    day date;
BEGIN
    IF to_regclass('prediction_log_unpartitioned') IS NULL THEN
        RETURN;
    END IF;
    FOR day IN
        SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM prediction_log_unpartitioned
    LOOP
        PERFORM porto_log_partition(day);
    END LOOP;
    INSERT INTO prediction_log (
        prediction_id, created_at, model_name, model_version, endpoint, request_id, record_id,
        features, score, predicted_class, threshold, latency_ms, label, label_time)
    SELECT prediction_id, created_at, model_name, model_version, endpoint, request_id, record_id,
           convert_to(features::text, 'UTF8'), score, predicted_class, threshold, latency_ms,
           label, label_time
    FROM prediction_log_unpartitioned;
    DROP TABLE prediction_log_unpartitioned;
END
$$;
