-- Scores of challenger versions, one row per (served prediction, challenger version): written
-- by shadow scoring (source 'shadow', off the request path) and by replays that record their
-- scores (source 'replay'). prediction_id and created_at are the served row's, so a challenger's
-- score meets the same label as the champion's through a join with prediction_log on both
-- (created_at prunes the log's day partitions). Nothing here is ever served.
CREATE TABLE IF NOT EXISTS challenger_predictions (
    prediction_id    uuid NOT NULL,              -- prediction_log.prediction_id of the served row
    model_version    text NOT NULL,              -- the challenger's version
    created_at       timestamptz NOT NULL,       -- prediction_log.created_at of the served row
    source           text NOT NULL CHECK (source IN ('shadow', 'replay')),
    model_name       text NOT NULL,
    score            double precision NOT NULL,
    predicted_class  smallint NOT NULL,
    threshold        double precision NOT NULL,
    scored_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (prediction_id, model_version)
);
CREATE INDEX IF NOT EXISTS challenger_predictions_version_time
    ON challenger_predictions (model_version, created_at);
