-- The prediction log: one row per scored record, labelled later by /feedback.
CREATE TABLE IF NOT EXISTS prediction_log (
    prediction_id   uuid PRIMARY KEY,            -- UUIDv7: time-ordered, so inserts append
    created_at      timestamptz NOT NULL,
    model_name      text NOT NULL,
    model_version   text NOT NULL,
    endpoint        text NOT NULL,               -- /predict or /predict/batch
    request_id      text,
    record_id       text,                        -- the dataset's id column, when the record had one
    features        jsonb NOT NULL,
    score           double precision NOT NULL,   -- P(class 1)
    predicted_class smallint NOT NULL,
    threshold       double precision NOT NULL,
    latency_ms      real,
    label           smallint,                    -- ground truth from /feedback
    label_time      timestamptz,
    CONSTRAINT prediction_log_class_binary CHECK (predicted_class IN (0, 1)),
    CONSTRAINT prediction_log_label_binary CHECK (label IS NULL OR label IN (0, 1))
);

-- Time-series queries: recent traffic overall, per model version, and recent feedback.
CREATE INDEX IF NOT EXISTS prediction_log_created_at_idx
    ON prediction_log (created_at);
CREATE INDEX IF NOT EXISTS prediction_log_model_created_at_idx
    ON prediction_log (model_name, model_version, created_at);
CREATE INDEX IF NOT EXISTS prediction_log_label_time_idx
    ON prediction_log (model_name, label_time) WHERE label IS NOT NULL;

-- Feedback that arrived before its prediction reached the table (it may still sit in another
-- worker's queue); applied by whichever worker writes that prediction.
CREATE TABLE IF NOT EXISTS pending_feedback (
    prediction_id   uuid PRIMARY KEY,
    label           smallint NOT NULL CHECK (label IN (0, 1)),
    label_time      timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);
