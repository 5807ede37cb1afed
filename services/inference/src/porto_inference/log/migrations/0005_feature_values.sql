-- Logged features as values alone, in the model's feature order, with the names once per
-- model version.
--
-- A row's features column held the record's JSON object, every feature name repeated in every
-- row: 1,020 of its 1,370 bytes for Porto Seguro. From here on it holds a JSON array of the
-- values in the model version's feature order (about 190 bytes), and prediction_log_schemas
-- holds that order, written by the service the first time it logs a version. Bytes are most of
-- what a logged row costs PostgreSQL (WAL, heap) and the service (encoding, the socket), so
-- this is most of its cost.
--
-- Rows logged before this migration keep their JSON objects: porto_log_features reads both,
-- so nothing is rewritten and the view answers as before.

CREATE TABLE IF NOT EXISTS prediction_log_schemas (
    model_name      text NOT NULL,
    model_version   text NOT NULL,
    feature_names   text[] NOT NULL,             -- the order of each row's values
    first_logged_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_name, model_version)
);

-- A logged row's features as a JSON object keyed by feature name: a values array zipped with
-- its version's names, or an object logged before 0005 as it is (an array whose version has no
-- names recorded stays an array). json, not jsonb: json keeps any value the API accepted.
CREATE OR REPLACE FUNCTION porto_log_features(features bytea, names text[]) RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN names IS NULL OR get_byte(features, 0) = 123  -- '{'
            THEN convert_from(features, 'UTF8')::json
        ELSE (
            SELECT json_object_agg(n.name, v.value ORDER BY n.ord)
            FROM json_array_elements(convert_from(features, 'UTF8')::json)
                     WITH ORDINALITY AS v(value, ord)
            JOIN unnest(names) WITH ORDINALITY AS n(name, ord) USING (ord)
        )
    END
$$;

-- The features by name: SELECT features->>'ps_car_13' FROM prediction_log_features WHERE ...
-- (filter on created_at too: the view prunes partitions like the table).
CREATE OR REPLACE VIEW prediction_log_features AS
SELECT p.prediction_id, p.created_at, p.model_name, p.model_version, p.endpoint, p.record_id,
       porto_log_features(p.features, s.feature_names) AS features,
       p.score, p.predicted_class, p.label, p.label_time
FROM prediction_log AS p
LEFT JOIN prediction_log_schemas AS s
       ON s.model_name = p.model_name AND s.model_version = p.model_version;
