"""Replay against the real app and a real PostgreSQL: the log filled by serving real requests
(and, for rows logged before migration 0005, by SQL), labels posted through /feedback, then
``POST /monitoring/replay`` and ``porto-inference replay``.

The same version gives back the served scores (Δ = 0 within 1e-9, full agreement); another
version gives its own predictions on the same records; the label figures equal a direct
computation with the quality functions; ``record`` writes source 'replay' rows once; every
refusal is a 4xx (503 for a log that is off), the command line's a single ``error:`` line.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import orjson
import porto_inference.log.replay as replay_log
import pytest
from fastapi.testclient import TestClient
from harness.ports import free_port
from inference.bundles import MODEL_NAME, TrainedModel, publish
from inference.pg import flush_log, sql
from porto.bundle import Manifest
from porto.contracts.replay import ReplayReport
from porto.store import open_store
from porto_inference.cli import main
from porto_inference.log.database import migrate
from porto_inference.monitoring.quality import calibration, gini, quality
from porto_inference.scoring.model import ServedModel
from porto_inference.scoring.replay import ChunkScorer

pytestmark = pytest.mark.integration

#: Served through /predict/batch, then one by one through /predict.
BATCH_ROWS = 60
SINGLE_ROWS = 6
#: Rows labelled through /feedback (both classes among them).
LABELLED = 40


@dataclass
class Home:
    path: Path
    champion: Manifest
    other: Manifest

    @property
    def example(self) -> dict[str, Any]:
        """A record the champion scores."""
        from porto.schema import typical_record

        return dict(typical_record(self.champion.feature_schema))

    def model(self, manifest: Manifest) -> ServedModel:
        """The version loaded as the service loads it."""
        return ServedModel.load(
            open_store(str(self.path / "artifacts")), MODEL_NAME, manifest.version
        )


@dataclass
class Served:
    """What the test served: prediction id → the record sent, and the labels given."""

    records: dict[str, dict[str, Any]]
    labels: dict[str, int]


@pytest.fixture(scope="module")
def home(
    tmp_path_factory: pytest.TempPathFactory, trained: TrainedModel, trained_other: TrainedModel
) -> Home:
    """A PORTO_HOME with a champion and a second version (not promoted)."""
    root = tmp_path_factory.mktemp("replay-home")
    store = open_store(str(root / "artifacts"))
    champion = publish(store, trained, promote=True)
    other = publish(store, trained_other)
    return Home(root, champion, other)


@pytest.fixture
def db(pg_url: str) -> str:
    """The harness database, without the challenger rows of an earlier test (the shared reset
    predates that table)."""
    sql(pg_url, "DROP TABLE IF EXISTS challenger_predictions")
    return pg_url


@pytest.fixture
def app(home: Home, db: str, make_client: Callable[..., TestClient]) -> TestClient:
    """The real app with the prediction log in the harness PostgreSQL."""
    return make_client(home=home.path, prediction_log=True, database_url=db)


def _window(**extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(minutes=5)).isoformat(),
        **extra,
    }


def _serve(client: TestClient, records: list[dict[str, Any]]) -> Served:
    """Serve records through /predict/batch and /predict, label some through /feedback."""
    sent = [dict(r) for r in records[: BATCH_ROWS + SINGLE_ROWS]]
    answer = client.post("/predict/batch", json=sent[:BATCH_ROWS])
    assert answer.status_code == 200, answer.text
    ids = [p["prediction_id"] for p in answer.json()["predictions"]]
    for record in sent[BATCH_ROWS:]:
        one = client.post("/predict", json=record)
        assert one.status_code == 200, one.text
        ids.append(one.json()["prediction_id"])
    assert flush_log(client, 30.0)
    labels = {pid: int(i % 3 == 0) for i, pid in enumerate(ids[:LABELLED])}
    feedback = client.post(
        "/feedback", json=[{"prediction_id": k, "label": v} for k, v in labels.items()]
    )
    assert feedback.status_code == 200 and feedback.json()["applied"] == LABELLED, feedback.text
    return Served(dict(zip(ids, sent, strict=True)), labels)


def _replay(client: TestClient, **body: Any) -> ReplayReport:
    answer = client.post("/monitoring/replay", json=_window(**body))
    assert answer.status_code == 200, answer.text
    return ReplayReport.model_validate(answer.json())


def _logged(url: str) -> dict[str, dict[str, Any]]:
    rows = sql(
        url,
        "SELECT prediction_id::text AS id, score, predicted_class, label FROM prediction_log",
    )
    return {r["id"]: r for r in rows}


def _direct(model: ServedModel, records: list[dict[str, Any]]) -> np.ndarray:
    """``model``'s own predictions on ``records`` (its id column left out by the codec)."""
    return model.predict(model.codec.encode_items([dict(r) for r in records]))


def _assert_quality(got: Any, scores: np.ndarray, classes: np.ndarray, labels: np.ndarray) -> None:
    want = quality(scores, classes, labels)
    calib = calibration(scores, labels)
    assert calib is not None
    assert got.roc_auc == pytest.approx(want.roc_auc, abs=1e-12)
    assert got.gini == pytest.approx(gini(want.roc_auc), abs=1e-12)
    assert (got.f1, got.precision, got.recall) == pytest.approx(
        (want.f1, want.precision, want.recall), abs=1e-12
    )
    c = got.calibration
    assert (c.ece, c.brier, c.mean_score, c.positive_rate) == pytest.approx(
        (calib.ece, calib.brier, calib.mean_score, calib.positive_rate), abs=1e-12
    )


# --- the API ----------------------------------------------------------------------------------


def test_the_served_version_replays_to_the_served_scores(
    app: TestClient, db: str, home: Home, records: list[dict[str, Any]]
) -> None:
    served = _serve(app, records)
    report = _replay(app, version="champion")
    rows = BATCH_ROWS + SINGLE_ROWS
    assert (report.rows_read, report.rows_replayed, report.rows_skipped) == (rows, rows, 0)
    assert report.version == home.champion.version and report.requested == "champion"
    assert report.skipped == [] and not report.truncated and report.recorded is None
    agreement = report.agreement
    assert agreement.rows == rows and agreement.max_abs_delta is not None
    assert agreement.max_abs_delta < 1e-9 and agreement.mean_abs_delta is not None
    assert agreement.mean_abs_delta < 1e-9
    assert (agreement.class_agreement, agreement.became_positive, agreement.became_negative) == (
        1.0,
        0.0,
        0.0,
    )
    [version] = report.by_served_version
    assert (version.model_version, version.rows, version.skipped) == (
        home.champion.version,
        rows,
        0,
    )
    # Both sides' label figures equal a direct computation on the logged rows.
    logged = [r for r in _logged(db).values() if r["label"] is not None]
    assert len(logged) == LABELLED
    scores = np.array([r["score"] for r in logged])
    classes = np.array([r["predicted_class"] for r in logged])
    labels = np.array([r["label"] for r in logged])
    assert report.labelled is not None
    assert (report.labelled.labels, report.labelled.positives) == (LABELLED, int(labels.sum()))
    _assert_quality(report.labelled.served, scores, classes, labels)
    _assert_quality(report.labelled.replayed, scores, classes, labels)
    assert served.labels  # (used by the other tests)


def test_another_version_replays_to_its_own_predictions_and_records_them_once(
    app: TestClient,
    db: str,
    home: Home,
    records: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(replay_log, "FETCH_ROWS", 7)  # many chunks: the sums must add up
    served = _serve(app, records)
    report = _replay(app, version=home.other.version, record=True)
    rows = BATCH_ROWS + SINGLE_ROWS
    assert report.version == home.other.version and report.rows_replayed == rows
    assert report.recorded == rows

    other = home.model(home.other)
    ids = list(served.records)
    direct = dict(zip(ids, _direct(other, list(served.records.values())).tolist(), strict=True))
    recorded = sql(
        db,
        "SELECT c.prediction_id::text AS id, c.score, c.predicted_class, c.threshold, c.source, "
        "c.model_name, c.created_at = p.created_at AS same_time "
        "FROM challenger_predictions AS c JOIN prediction_log AS p USING (prediction_id) "
        "WHERE c.model_version = $1",
        home.other.version,
    )
    assert len(recorded) == rows
    for r in recorded:
        assert r["score"] == pytest.approx(direct[r["id"]], abs=1e-9)
        assert r["predicted_class"] == int(direct[r["id"]] >= other.threshold)
        assert (r["threshold"], r["source"], r["model_name"], r["same_time"]) == (
            other.threshold,
            "replay",
            MODEL_NAME,
            True,
        )

    # Agreement and the class changes, against the served classes.
    logged = _logged(db)
    served_scores = np.array([logged[i]["score"] for i in ids])
    served_classes = np.array([logged[i]["predicted_class"] for i in ids])
    mine = np.array([direct[i] for i in ids])
    my_classes = (mine >= other.threshold).astype(int)
    a = report.agreement
    assert a.max_abs_delta == pytest.approx(float(np.abs(mine - served_scores).max()), abs=1e-9)
    assert a.mean_abs_delta == pytest.approx(float(np.abs(mine - served_scores).mean()), abs=1e-9)
    assert a.class_agreement == pytest.approx(float((my_classes == served_classes).mean()))
    assert a.became_positive == pytest.approx(
        float(((served_classes == 0) & (my_classes == 1)).mean())
    )
    assert a.became_negative == pytest.approx(
        float(((served_classes == 1) & (my_classes == 0)).mean())
    )

    # The label figures: the replayed side is the other model's own.
    labelled = list(served.labels)
    labels = np.array([served.labels[i] for i in labelled])
    mine_l = np.array([direct[i] for i in labelled])
    assert report.labelled is not None
    _assert_quality(
        report.labelled.replayed, mine_l, (mine_l >= other.threshold).astype(int), labels
    )
    _assert_quality(
        report.labelled.served,
        np.array([logged[i]["score"] for i in labelled]),
        np.array([logged[i]["predicted_class"] for i in labelled]),
        labels,
    )

    # Idempotent: a second recording replay adds nothing and changes nothing.
    before = sql(db, "SELECT prediction_id, score, scored_at FROM challenger_predictions")
    again = _replay(app, version=home.other.version, record=True)
    assert again.recorded == 0 and again.rows_replayed == rows
    after = sql(db, "SELECT prediction_id, score, scored_at FROM challenger_predictions")
    key = lambda r: str(r["prediction_id"])  # noqa: E731
    assert sorted(after, key=key) == sorted(before, key=key)


def test_limit_and_filters(app: TestClient, home: Home, records: list[dict[str, Any]]) -> None:
    _serve(app, records)
    report = _replay(app, version="champion", limit=10)
    assert (report.rows_read, report.truncated, report.limit) == (10, True, 10)
    batch = _replay(app, version="champion", filters={"endpoint": "/predict"})
    assert batch.rows_read == SINGLE_ROWS
    served = _replay(app, version="champion", filters={"model_version": home.champion.version})
    assert served.rows_read == BATCH_ROWS + SINGLE_ROWS
    none = _replay(app, version="champion", filters={"model_version": "never-served"})
    assert none.rows_read == 0 and none.labelled is None and none.agreement.rows == 0


def _error(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    return error


def test_refusals_are_4xx_naming_the_problem(
    home: Home, db: str, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(home=home.path, prediction_log=True, database_url=db, replay_max_rows=50)
    post = lambda body: client.post("/monitoring/replay", json=body)  # noqa: E731
    missing = _error(post(_window(version="no-such-version")), 404)
    assert "no-such-version" in missing["message"]
    over = _error(post(_window(version="champion", limit=51)), 413)
    assert "limit 51" in over["message"] and "50" in over["message"]
    now = datetime.now(UTC).isoformat()
    empty = _error(post({"version": "champion", "from": now, "to": now}), 422)
    assert "must be before to" in empty["message"] and empty["details"][0]["field"] == "to"
    bad_date = _error(post({"version": "champion", "from": "yesterday", "to": now}), 422)
    assert bad_date["details"][0]["field"] == "from"
    for body, field in [
        (_window(version="champion", limit=0), "limit"),
        (_window(version=""), "version"),
        (_window(version="champion", filters={"served": "x"}), "filters.served"),
        (_window(version="champion", extra=1), "extra"),
        ({"version": "champion"}, "from"),
        (_window(version="champion", filters={"endpoint": "/pre\u0000dict"}), "filters.endpoint"),
        ({"version": "champion", "from": "0001-01-01T00:00:00+05:00", "to": now}, "from"),
    ]:
        error = _error(post(body), 422)
        assert any(d["field"] == field for d in error["details"]), (body, error)
    assert _error(client.post("/monitoring/replay", content=b"{"), 422)["type"] == (
        "validation_error"
    )


def test_a_log_that_is_off_is_a_503_and_the_key_is_required(
    home: Home, make_client: Callable[..., TestClient]
) -> None:
    off = make_client(home=home.path)
    error = _error(off.post("/monitoring/replay", json=_window(version="champion")), 503)
    assert "prediction log is off" in error["message"]
    keyed = make_client(home=home.path, api_key="k" * 8 + "0123456789abcdefghijklmnopqrstuv")
    assert keyed.post("/monitoring/replay", json=_window(version="champion")).status_code == 401


def test_a_database_that_is_down_is_a_503(
    home: Home, make_client: Callable[..., TestClient]
) -> None:
    url = f"postgresql://porto:secret@127.0.0.1:{free_port()}/porto"
    client = make_client(home=home.path, prediction_log=True, database_url=url)
    error = _error(client.post("/monitoring/replay", json=_window(version="champion")), 503)
    assert error["type"] == "database_unavailable" and "not reachable" in error["message"]
    assert "secret" not in error["message"]
    assert client.post("/predict", json=dict(home.example)).status_code == 200


def test_predict_keeps_answering_while_a_replay_scores(
    app: TestClient, records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replay's scoring holds its thread until a /predict has been answered: were it on
    the event loop, that /predict would wait for it (and the replay's wait time out)."""
    _serve(app, records)
    entered, release = threading.Event(), threading.Event()
    waited: list[bool] = []
    score = ChunkScorer.score

    def held(self: ChunkScorer, rows: list[Any]) -> Any:
        entered.set()
        waited.append(release.wait(60))
        return score(self, rows)

    monkeypatch.setattr(ChunkScorer, "score", held)
    answers: list[Any] = []
    worker = threading.Thread(
        target=lambda: answers.append(
            app.post("/monitoring/replay", json=_window(version="champion"))
        )
    )
    worker.start()
    assert entered.wait(60)
    for record in records[:5]:
        assert app.post("/predict", json=dict(record)).status_code == 200
    assert worker.is_alive()  # still held: /predict answered during the replay
    release.set()
    worker.join(60)
    assert waited == [True] and answers[0].status_code == 200, answers


# --- rows logged before migration 0005, and rows the replay version cannot score ------------

INSERT_SQL = """
INSERT INTO prediction_log (prediction_id, created_at, model_name, model_version, endpoint,
    features, score, predicted_class, threshold, label, label_time)
VALUES ($1, $2, 'porto', $3, '/predict', $4, $5, $6, $7, $8, CASE WHEN $8::smallint IS NULL
    THEN NULL ELSE now() END)
"""


def _insert(url: str, rows: list[tuple[Any, ...]]) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            await migrate(conn)
            await conn.fetchval("SELECT porto_log_partition($1)", datetime.now(UTC).date())
            await conn.executemany(INSERT_SQL, rows)
        finally:
            await conn.close()

    asyncio.run(run())


def test_old_json_object_rows_and_unscorable_rows(
    app: TestClient, db: str, home: Home, records: list[dict[str, Any]]
) -> None:
    champion = home.model(home.champion)
    names = champion.codec.names
    sample = [{n: r[n] for n in names} for r in records[:10]]
    scores = _direct(champion, sample).tolist()
    now = datetime.now(UTC) - timedelta(minutes=1)
    rows: list[tuple[Any, ...]] = []

    def add(version: str, features: Any, score: float, label: int | None = None) -> str:
        pid = uuid.uuid4()
        cls = int(score >= champion.threshold)
        blob = orjson.dumps(features, option=orjson.OPT_SERIALIZE_NUMPY)
        rows.append((pid, now, version, blob, score, cls, champion.threshold, label))
        return str(pid)

    # Seven rows of a version logged as JSON objects (with a key the model does not use), two
    # of which the champion cannot score; three of a version whose names were never recorded.
    for i in range(5):
        add("legacy-v0", {**sample[i], "note": "logged before 0005"}, scores[i], i % 2)
    no_car_13 = add("legacy-v0", {k: v for k, v in sample[5].items() if k != "ps_car_13"}, 0.5)
    binary = add("legacy-v0", {**sample[6], "ps_ind_06_bin": 2}, 0.5)
    for i in range(7, 10):
        add("noname", [sample[i][n] for n in names], scores[i])
    _insert(db, rows)

    report = _replay(app, version="champion")
    assert (report.rows_read, report.rows_replayed, report.rows_skipped) == (10, 8, 2)
    reasons = {s.reason: s for s in report.skipped}
    assert reasons["missing feature(s) ps_car_13"].examples == [no_car_13]
    assert reasons["ps_ind_06_bin: expected 0 or 1 (binary feature)"].examples == [binary]
    assert report.agreement.max_abs_delta is not None and report.agreement.max_abs_delta < 1e-9
    assert report.agreement.class_agreement == 1.0
    by_version = {v.model_version: v for v in report.by_served_version}
    assert (by_version["legacy-v0"].rows, by_version["legacy-v0"].skipped) == (7, 2)
    assert by_version["legacy-v0"].agreement.rows == 5
    assert (by_version["noname"].rows, by_version["noname"].skipped) == (3, 0)
    assert report.labelled is not None and report.labelled.labels == 5


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, home: Home
) -> Callable[..., tuple[int, str, str]]:
    monkeypatch.setenv("PORTO_HOME", str(home.path))
    for name in ("PORTO_INFERENCE_STORE_URI", "PORTO_INFERENCE_HOME", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()  # what the test's app printed before
        code = main(["replay", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _span() -> list[str]:
    window = _window()
    return ["--from", window["from"], "--to", window["to"]]


def test_cli_replays_records_and_prints(
    app: TestClient,
    db: str,
    home: Home,
    records: list[dict[str, Any]],
    cli: Callable[..., tuple[int, str, str]],
) -> None:
    _serve(app, records)
    rows = BATCH_ROWS + SINGLE_ROWS
    code, out, err = cli("--version", "champion", *_span(), "--database-url", db, "--json")
    assert code == 0, err
    report = ReplayReport.model_validate(json.loads(out))
    assert report.rows_replayed == rows and report.agreement.class_agreement == 1.0
    assert f"{rows:,} rows read, {rows:,} replayed" in err
    code, out, err = cli(
        "--version", home.other.version, *_span(), "--database-url", db, "--record"
    )
    assert code == 0, err
    assert f"rows: {rows:,} read (limit none), {rows:,} replayed, 0 skipped" in out
    assert "agreement: mean |Δscore|" in out and "replayed " in out and "AUC" in out
    assert f"recorded: {rows:,} new row(s) in challenger_predictions" in out
    count = sql(db, "SELECT count(*) AS n FROM challenger_predictions WHERE source = 'replay'")
    assert count[0]["n"] == rows
    code, out, _ = cli("--version", "champion", *_span(), "--database-url", db, "--limit", "5")
    assert code == 0 and "rows: 5 read (limit 5, reached)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday", "--to", "2026-12-05"], "error: --from 'yesterday' is not a date"),
        (["--from", "2026-12-05", "--to", "2026-13-01"], "error: --to '2026-13-01' is not a date"),
        (
            ["--from", "2026-12-05T10:00:00Z", "--to", "2026-12-05T10:00:00Z"],
            "error: the window is empty: from (2026-12-05T10:00:00+00:00) must be before to",
        ),
        (["--from", "2020-01-01", "--to", "2020-01-02"], "error: no logged rows of model 'porto'"),
    ],
)
def test_cli_refusals(
    db: str, cli: Callable[..., tuple[int, str, str]], args: list[str], message: str
) -> None:
    code, out, err = cli("--version", "champion", *args, "--database-url", db)
    assert code == 1 and err.startswith(message), err
    assert "rows read" not in out and len(err.strip().splitlines()) == 1


def test_cli_unknown_version(db: str, cli: Callable[..., tuple[int, str, str]]) -> None:
    code, _, err = cli("--version", "no-such", *_span(), "--database-url", db)
    assert code == 1 and err.startswith("error:") and "no-such" in err, err
    assert len(err.strip().splitlines()) == 1


def test_cli_database_down(cli: Callable[..., tuple[int, str, str]]) -> None:
    url = f"postgresql://porto:secret@127.0.0.1:{free_port()}/porto"
    code, _, err = cli("--version", "champion", *_span(), "--database-url", url)
    assert code == 1
    assert err.startswith("error: cannot reach the prediction log's database at postgresql://")
    assert "secret" not in err and len(err.strip().splitlines()) == 1


def test_cli_store_down(
    db: str, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTO_INFERENCE_STORE_URI", "s3://porto-models")
    monkeypatch.setenv("PORTO_S3_ACCESS_KEY", "porto-test")
    monkeypatch.setenv("PORTO_S3_SECRET_KEY", "porto-test-secret")
    monkeypatch.setenv("PORTO_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    code, _, err = cli("--version", "champion", *_span(), "--database-url", db)
    assert code == 1 and err.startswith("error: cannot reach S3 endpoint http://127.0.0.1:"), err
    assert len(err.strip().splitlines()) == 1
