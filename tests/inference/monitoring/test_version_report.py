"""GET /models/{version}/report and ``porto-inference report`` against a bundle from the real
training pipeline (every plot and insight a bundle has) and a real PostgreSQL: the card and the
training section match the bundle, the log sections match figures computed here from what was
sent (quality with the quality functions, PSI with /monitoring/drift on the same rows, missing
values and unseen categories counted by hand), the HTML is well-formed, self-contained and
escaped, and every failure is a 4xx — or, for the log, a 200 that says why a section is empty."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import secrets
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from harness.minio import MinioServer
from harness.ports import free_port
from inference.bundles import TrainedModel, publish
from inference.pg import flush_log
from inference.servers import total
from porto.bundle import Manifest, read_file, read_json, write_bundle
from porto.contracts.insights import MUTUAL_INFO_FILE
from porto.contracts.report import VersionReport
from porto.reference import missing_categories
from porto.registry import Registry
from porto.schema import FeatureKind, canonical_category
from porto.store import FileStore, S3Options, open_store
from porto_inference.cli import main
from porto_inference.monitoring.model_card import model_card
from porto_inference.monitoring.quality import calibration, gini, quality
from porto_inference.monitoring.report_html import render_html

CRAFTED = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PORTO_HOME whose store holds one champion from the training pipeline (overrides the
    conftest's hand-made bundle: a report reads metrics, plots and insights training writes)."""
    from porto_training.config import load_config
    from porto_training.pipeline import run_training

    root = tmp_path_factory.mktemp("report-home")
    config = load_config(
        updates={
            "output.store": f"file://{root / 'artifacts'}",
            "data.synthetic.rows": 5000,
            "insights.shap_rows": 300,
            "insights.mutual_info_rows": 2000,
            "model.catboost.iterations": 60,
            "model.catboost.thread_count": 2,
        }
    )
    run_training(config, promote=True, live=False)
    return root


@pytest.fixture(scope="module")
def trained_manifest(home: Path) -> Manifest:
    return Registry(FileStore(home / "artifacts"), "porto").get("champion")


def _records(manifest: Manifest, rows: int) -> list[dict[str, Any]]:
    from porto.synthetic import generate

    frame = generate(rows, seed=5).frame
    names = manifest.feature_schema.names
    return [{str(k): v for k, v in r.items()} for r in frame[["id", *names]].to_dict("records")]


def test_report_without_log_has_card_and_training(
    make_client: Callable[..., TestClient], trained_manifest: Manifest, home: Path
) -> None:
    client = make_client()
    answer = client.get("/models/champion/report")
    assert answer.status_code == 200, answer.text
    report = VersionReport.model_validate(answer.json())
    m = trained_manifest
    card = report.card
    assert (report.model_name, report.model_version) == (m.name, m.version)
    assert card.version == m.version and "champion" in card.aliases
    assert card.threshold == m.threshold
    assert card.data.source == m.dataset.source
    assert card.data.fingerprint == m.dataset.fingerprint
    assert card.data.rows == m.dataset.rows and card.data.positives == m.dataset.positives
    assert [(f.name, f.kind) for f in card.features] == [
        (f.name, str(f.kind)) for f in m.feature_schema.features
    ]
    assert all("null or -1" in f.missing for f in card.features)
    for key in ("roc_auc", "gini_normalized", "f1", "log_loss", "pr_auc", "brier"):
        assert card.holdout_metrics[key] == m.metrics[key]
    assert card.holdout == "test" and card.card_source == "generated"
    assert "Binary classification" in card.intended_use
    assert any("Label rate" in x for x in card.limitations)
    assert any("synthetic" in x for x in card.limitations)
    assert report.training.metrics == m.metrics
    names = [p.name for p in report.training.plots]
    assert {"roc", "precision_recall", "confusion_matrix", "calibration"} <= set(names)
    roc = next(p for p in report.training.plots if p.name == "roc")
    assert roc.image == "plots/roc.png" and roc.data is not None and "fpr" in roc.data
    mi = read_json(FileStore(home / "artifacts"), m, MUTUAL_INFO_FILE)
    assert report.training.mutual_information is not None
    assert report.training.mutual_information.values == mi["values"]
    for section in (report.drift, report.quality, report.data_quality):
        assert section.available is False
        assert section.reason is not None and "prediction log is off" in section.reason


class _Checker(HTMLParser):
    """Tag balance (void elements aside) and every src/href of the document."""

    VOID = frozenset({"meta", "img", "br", "hr", "input", "link", "rect", "circle", "line"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k in ("src", "href")]

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def _check_html(text: str) -> _Checker:
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert checker.stack == [], checker.stack
    assert "script" not in checker.tags
    assert not [x for x in checker.links if re.match(r"(?i)\s*(https?:)?//", x)]
    assert all(x.startswith("data:image/") for x in checker.links)
    return checker


def test_html_report_is_self_contained_and_downloadable(
    make_client: Callable[..., TestClient], trained_manifest: Manifest
) -> None:
    client = make_client()
    answer = client.get(
        f"/models/{trained_manifest.version}/report", params={"format": "html", "download": True}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    name = f"porto-{trained_manifest.name}-{trained_manifest.version}-report.html"
    assert answer.headers["content-disposition"] == f'attachment; filename="{name}"'
    text = answer.text
    checker = _check_html(text)
    assert "svg" in checker.tags and 'aria-label="mutual information"' in text
    assert len([x for x in checker.links if x.startswith("data:image/png;base64,")]) >= 4
    assert "Model card" in text and trained_manifest.dataset.fingerprint in text
    assert "Unavailable: the prediction log is off" in text
    plain = client.get(f"/models/{trained_manifest.version}/report", params={"format": "html"})
    assert "content-disposition" not in plain.headers


def test_crafted_strings_are_escaped(
    make_client: Callable[..., TestClient], trained_manifest: Manifest
) -> None:
    report = VersionReport.model_validate(make_client().get("/models/champion/report").json())
    card = report.card.model_copy(update={"intended_use": CRAFTED, "limitations": [CRAFTED]})
    card.features[0].name = CRAFTED
    card.data.source = f'x" onload="{CRAFTED}'
    assert report.training.mutual_information is not None
    report.training.mutual_information.values[CRAFTED] = 1.0
    text = render_html(report.model_copy(update={"card": card}), {})
    _check_html(text)
    assert "<script" not in text and "&lt;script&gt;" in text


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/models/nope/report", {}, 404, None),
        ("/models/champion/report", {"format": "pdf"}, 422, "format"),
        ("/models/champion/report", {"days": 0}, 422, "days"),
        ("/models/champion/report", {"days": 91}, 422, "days"),
        ("/models/champion/report", {"bucket_hours": 0}, 422, "bucket_hours"),
        ("/models/champion/report", {"days": 90, "bucket_hours": 1}, 422, "bucket_hours"),
        ("/models/champion/report", {"days": 90, "sample": 20000}, 422, "sample"),
        ("/models/champion/report", {"download": "maybe"}, 422, "download"),
        ("/models/..%2Fx/report", {}, 404, None),
    ],
)
def test_bad_requests_are_4xx(
    make_client: Callable[..., TestClient],
    path: str,
    params: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    answer = make_client().get(path, params=params)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["message"]
    if field is not None:
        assert any(field in d["field"] for d in error["details"]), error


def test_report_needs_the_api_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_key="k" * 40)
    assert client.get("/models/champion/report").status_code == 401
    ok = client.get("/models/champion/report", headers={"X-API-Key": "k" * 40})
    assert ok.status_code == 200


def _expected_data_quality(
    manifest: Manifest, sent: list[dict[str, Any]]
) -> dict[str, tuple[int, int | None]]:
    """Missing values and unseen categories per feature, counted here from what was sent."""
    missing = missing_categories(manifest.feature_schema)
    out: dict[str, tuple[int, int | None]] = {}
    for spec in manifest.feature_schema.features:
        values = [r[spec.name] for r in sent]
        if spec.kind is FeatureKind.CATEGORICAL:
            canonical = [canonical_category(v) for v in values]
            n_missing = sum(c in missing for c in canonical)
            known = set(spec.categories or [])
            unseen = sum(c not in missing and c not in known for c in canonical)
            out[spec.name] = (n_missing, unseen)
        else:
            n_missing = sum(
                v is None or (isinstance(v, float) and math.isnan(v)) or v == -1 for v in values
            )
            out[spec.name] = (n_missing, None)
    return out


@pytest.mark.integration
def test_log_sections_match_direct_computations(
    make_client: Callable[..., TestClient], pg_url: str, trained_manifest: Manifest
) -> None:
    m = trained_manifest
    client = make_client(prediction_log=True, database_url=pg_url)
    schema = m.feature_schema
    numeric = next(f.name for f in schema.features if f.kind is FeatureKind.NUMERIC)
    categorical = [f.name for f in schema.features if f.kind is FeatureKind.CATEGORICAL]
    sent = _records(m, 240)
    for i, record in enumerate(sent):
        if i % 5 == 0:
            record[numeric] = -1
        if i % 7 == 0:
            record[numeric] = None
        if i % 11 == 0:
            record[categorical[0]] = None
        if i % 13 == 0:
            record[categorical[1]] = CRAFTED
    answer = client.post("/predict/batch", json=sent)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    labels = [int(i % 4 == 0) for i in range(len(predictions))]
    labelled = predictions[:200]
    assert flush_log(client)
    fed = client.post(
        "/feedback",
        json=[
            {"prediction_id": p["prediction_id"], "label": y}
            for p, y in zip(labelled, labels, strict=False)
        ],
    )
    assert fed.status_code == 200, fed.text

    answer = client.get(f"/models/{m.version}/report", params={"days": 1})
    assert answer.status_code == 200, answer.text
    report = VersionReport.model_validate(answer.json())

    # realized quality: the quality functions on what was sent and labelled
    scores = np.asarray([p["probability"] for p in labelled])
    classes = np.asarray([p["class"] for p in labelled])
    y = np.asarray(labels[: len(labelled)])
    q, cal = quality(scores, classes, y), calibration(scores, y)
    assert cal is not None
    overall = report.quality.overall
    assert report.quality.available and overall is not None
    assert overall.labelled == 200 and overall.positives == int(y.sum())
    assert overall.roc_auc == pytest.approx(q.roc_auc)
    assert overall.gini == pytest.approx(gini(q.roc_auc))
    assert overall.f1 == pytest.approx(q.f1)
    assert overall.precision == pytest.approx(q.precision)
    assert overall.brier == pytest.approx(cal.brier) and overall.ece == pytest.approx(cal.ece)
    assert len(report.quality.buckets) == 1
    assert report.quality.buckets[0].labelled == 200

    # data quality: counted by hand
    dq = report.data_quality
    assert dq.available and dq.rows == 240 and dq.served == 240
    expected = _expected_data_quality(m, sent)
    got = {f.feature: (f.missing, f.unseen) for f in dq.features}
    assert got == expected
    assert got[numeric][0] == sum(1 for i in range(240) if i % 5 == 0 or i % 7 == 0)
    assert got[categorical[1]][1] == sum(1 for i in range(240) if i % 13 == 0)

    # drift: one bucket (today), the same PSI as /monitoring/drift on the same rows
    drift = report.drift
    assert drift.available and len(drift.buckets) == 1
    bucket = drift.buckets[0]
    assert bucket.served == 240 and bucket.sampled == 240
    assert set(bucket.psi) == set(schema.names)
    live = client.get(
        "/monitoring/drift", params={"model_version": m.version, "minutes": 60, "limit": 1000}
    ).json()
    assert live["rows"] == 240
    for feature in live["features"]:
        assert bucket.psi[feature["feature"]] == pytest.approx(feature["psi"])
    assert bucket.score_psi == pytest.approx(live["score"]["psi"])
    by_name = {f.feature: f.psi for f in drift.features}
    assert by_name == pytest.approx({f["feature"]: f["psi"] for f in live["features"]})
    # and as the live gauges (drift.py) binned the same 240 rows when they were scored
    monitor = client.app.state.service.drift  # type: ignore[attr-defined]
    client.portal.call(monitor.process)
    assert monitor.window_rows == 240
    assert bucket.psi == pytest.approx(monitor.psi)
    assert bucket.score_psi == pytest.approx(monitor.score_psi)
    # the data-quality counts, as the live counters (drift.py counts every scored row)
    metrics = client.get("/metrics").text
    for name, (n_missing, n_unseen) in expected.items():
        assert total(metrics, "feature_missing_values_total", feature=name) == n_missing
        if n_unseen is not None:
            assert total(metrics, "feature_unseen_categories_total", feature=name) == n_unseen

    # hourly buckets over two days: the rows fall in the current hour's bucket
    hourly = client.get(f"/models/{m.version}/report", params={"days": 2, "bucket_hours": 1}).json()
    assert len(hourly["drift"]["buckets"]) == 48
    assert sum(b["sampled"] for b in hourly["drift"]["buckets"]) == 240
    assert hourly["drift"]["buckets"][-1]["sampled"] == 240

    # a bounded sample: 50 rows per bucket
    small = client.get(f"/models/{m.version}/report", params={"days": 1, "sample": 50}).json()
    assert small["drift"]["buckets"][0]["sampled"] == 50
    assert small["data_quality"]["rows"] == 50 and small["data_quality"]["served"] == 240

    html = client.get(f"/models/{m.version}/report", params={"days": 1, "format": "html"}).text
    _check_html(html)
    assert "<script" not in html
    assert 'aria-label="PSI over time"' in html and "Realized quality" in html


@pytest.mark.integration
def test_database_down_still_answers(
    make_client: Callable[..., TestClient], trained_manifest: Manifest
) -> None:
    dead = f"postgresql://porto:porto@127.0.0.1:{free_port()}/porto"
    client = make_client(prediction_log=True, database_url=dead)
    answer = client.get("/models/champion/report")
    assert answer.status_code == 200, answer.text
    report = VersionReport.model_validate(answer.json())
    assert report.card.version == trained_manifest.version
    for section in (report.drift, report.quality, report.data_quality):
        assert not section.available
        assert section.reason is not None and "database" in section.reason
    html = client.get("/models/champion/report", params={"format": "html"})
    assert html.status_code == 200 and "Unavailable:" in html.text


@pytest.fixture
def cli_env(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PORTO_HOME", str(home))
    monkeypatch.setenv("PORTO_INFERENCE_PREDICTION_LOG", "false")
    yield


def test_cli_writes_the_report(
    cli_env: None, tmp_path: Path, trained_manifest: Manifest, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    assert main(["report", "champion", "--format", "html", "-o", str(out)]) == 0
    _check_html(out.read_text())
    assert trained_manifest.version in out.read_text()
    assert main(["report", "champion", "--format", "json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["card"]["version"] == trained_manifest.version
    assert main(["report", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert main(["report", "champion", "--format", "pdf"]) == 1
    assert "--format" in capsys.readouterr().err
    assert main(["report", "champion", "--days", "90", "--bucket-hours", "1"]) == 1
    assert "buckets" in capsys.readouterr().err


@pytest.mark.integration
def test_cli_with_the_database_down(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORTO_HOME", str(home))
    monkeypatch.setenv("PORTO_INFERENCE_DB_CONNECT_TIMEOUT_S", "2")
    dead = f"postgresql://porto:porto@127.0.0.1:{free_port()}/porto"
    assert main(["report", "champion", "--format", "json", "--database-url", dead]) == 0
    out = capsys.readouterr().out
    # Earlier apps of this test process log JSON lines to stdout; a real CLI logs to stderr.
    body = json.loads(out[out.index('{\n  "format"') :])
    assert body["card"]["data"]["rows"] > 0
    assert not body["drift"]["available"] and "database" in body["drift"]["reason"]


@pytest.mark.integration
def test_report_from_an_s3_store(
    minio_server: MinioServer,
    s3_options: S3Options,
    make_client: Callable[..., TestClient],
    trained_manifest: Manifest,
    home: Path,
) -> None:
    """The same report with the bundle in MinIO, as in the chart."""
    source = FileStore(home / "artifacts")
    files = {rel: read_file(source, trained_manifest, rel) for rel in trained_manifest.files}
    uri = f"s3://porto-reports/{secrets.token_hex(4)}"
    store = open_store(uri, dataclasses.replace(s3_options, create_bucket=True))
    final = write_bundle(store, trained_manifest.model_copy(update={"files": {}}), files)
    Registry(store, "porto").register(final, promote=True)
    client = make_client(
        store_uri=uri,
        s3_endpoint_url=minio_server.endpoint,
        s3_access_key=minio_server.access_key,
        s3_secret_key=minio_server.secret_key,
    )
    answer = client.get("/models/champion/report", params={"format": "html"})
    assert answer.status_code == 200, answer.text
    checker = _check_html(answer.text)
    assert len([x for x in checker.links if x.startswith("data:image/png;base64,")]) >= 4
    report = VersionReport.model_validate(client.get("/models/champion/report").json())
    assert report.card.data.fingerprint == trained_manifest.dataset.fingerprint
    assert report.training.mutual_information is not None


def test_card_text_from_the_training_config(trained_manifest: Manifest) -> None:
    """The training config's model_card (as training records it in the manifest) wins over the
    generated text; half of it gives half."""
    from porto_training.config import load_config

    use = "Rank renewal offers for the pricing team; never to refuse cover."
    config = load_config(
        updates={"model_card.intended_use": use, "model_card.limitations": ["Only motor policies."]}
    )
    given = trained_manifest.model_copy(update={"config": config.model_dump(mode="json")})
    card = model_card(given, [])
    assert (card.intended_use, card.limitations, card.card_source) == (
        use,
        ["Only motor policies."],
        "config",
    )
    half = load_config(updates={"model_card.intended_use": use}).model_dump(mode="json")
    card = model_card(trained_manifest.model_copy(update={"config": half}), [])
    assert card.card_source == "mixed" and any("Label rate" in x for x in card.limitations)
    assert model_card(trained_manifest, []).card_source == "generated"


def test_a_bundle_of_another_shape(
    make_client: Callable[..., TestClient], trained: TrainedModel, tmp_path: Path
) -> None:
    """A hand-made bundle: metrics of another shape, a PNG without data, an unreadable
    mutual-information file, no reference: the report says what it has, never a 5xx."""
    publish(
        open_store(str(tmp_path / "artifacts")),
        trained,
        promote=True,
        extra_files={MUTUAL_INFO_FILE: b'{"not": "a ranking"}'},
    )
    client = make_client(home=tmp_path)
    answer = client.get("/models/champion/report")
    assert answer.status_code == 200, answer.text
    report = VersionReport.model_validate(answer.json())
    assert report.card.holdout_metrics == {"roc_auc": 0.7, "f1": 0.2, "train_rows": 3000.0}
    assert [(p.name, p.image, p.data) for p in report.training.plots] == [
        ("roc", "plots/roc.png", None)
    ]
    assert report.training.mutual_information is None
    html = client.get("/models/champion/report", params={"format": "html"}).text
    _check_html(html)
    assert "has no mutual information" in html
