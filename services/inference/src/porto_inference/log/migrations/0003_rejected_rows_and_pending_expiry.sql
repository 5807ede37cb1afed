-- Rows PostgreSQL refused to store (a value no text or jsonb column can hold, for example):
-- the writer isolates them from their batch and keeps them here with the error, so one bad row
-- never blocks the rows behind it. ``record`` is the row as JSON with every non-ASCII character
-- escaped, which any text column accepts.
CREATE TABLE IF NOT EXISTS prediction_log_rejected (
    prediction_id   text,
    rejected_at     timestamptz NOT NULL DEFAULT now(),
    error           text NOT NULL,
    record          text NOT NULL
);
CREATE INDEX IF NOT EXISTS prediction_log_rejected_at_idx
    ON prediction_log_rejected (rejected_at);

-- Parked feedback expires: the sweep finds the oldest entries by arrival time.
CREATE INDEX IF NOT EXISTS pending_feedback_received_at_idx
    ON pending_feedback (received_at);
