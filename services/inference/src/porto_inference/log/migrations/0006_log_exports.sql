-- Day partitions of the prediction log exported as Parquet to the object store
-- (porto_inference.log.export, `porto-inference log-export`): one row per exported UTC day,
-- written after the file and its manifest, so a row here means "this day is in the lake".
-- With PORTO_INFERENCE_LOG_RETENTION_REQUIRE_EXPORT, retention drops a day partition only when
-- its row here matches what the partition holds (rows and labelled rows), and forgets a row
-- that no longer does (late rows or labels), so the next export redoes the day.
CREATE TABLE IF NOT EXISTS prediction_log_exports (
    day          date PRIMARY KEY,               -- the UTC day (partition prediction_log_pYYYYMMDD)
    uri          text NOT NULL,                  -- the Parquet file: <store>/prediction-log/day=YYYY-MM-DD/part-0000.parquet
    rows         bigint NOT NULL,
    labelled     bigint NOT NULL,                -- rows with a label when exported
    bytes        bigint NOT NULL,
    sha256       text NOT NULL,                  -- of the file, as its _manifest.json says
    exported_at  timestamptz NOT NULL DEFAULT now()
);
