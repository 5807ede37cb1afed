"""Contract tests of POST /predict and POST /predict/batch: every input shape and every bad
input the issue lists, through the real app (lifespan, middleware, error handler)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from porto.bundle import Manifest


def _features(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "id"}


def test_named_features(client: TestClient, records: list[dict[str, Any]], champion: Manifest):
    r = client.post("/predict", json=records[0])
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "prediction_id",
        "probability",
        "class",
        "threshold",
        "model_name",
        "model_version",
        "id",
    }
    assert body["id"] == records[0]["id"]
    assert body["model_version"] == champion.version
    assert body["model_name"] == "porto"
    assert 0.0 <= body["probability"] <= 1.0
    assert body["class"] == int(body["probability"] >= body["threshold"])
    assert body["threshold"] == champion.threshold
    assert r.headers["x-request-id"]


def test_wrapped_and_positional_shapes_agree(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    record = records[1]
    named = client.post("/predict", json=record).json()
    wrapped = client.post("/predict", json={"id": "abc", "features": _features(record)}).json()
    names = champion.feature_schema.names
    positional = client.post("/predict", json={"features": [record[n] for n in names]}).json()
    assert named["probability"] == wrapped["probability"] == positional["probability"]
    assert wrapped["id"] == "abc"
    assert "id" not in positional
    assert len({named["prediction_id"], wrapped["prediction_id"], positional["prediction_id"]}) == 3


def test_seed_curl_example_is_a_clear_422(client: TestClient) -> None:
    r = client.post("/predict", json={"features": [1.5, 2.3, 3.1, 4.2, 5.0]})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["type"] == "validation_error"
    assert error["details"][0]["field"] == "features"
    assert "expected 57 values" in error["details"][0]["message"]


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"ps_ind_01": "abc"}, "ps_ind_01", "expected a number"),
        ({"ps_ind_01": [1]}, "ps_ind_01", "expected a number"),
        ({"ps_ind_07_bin": 3}, "ps_ind_07_bin", "expected 0 or 1"),
        ({"ps_car_04_cat": {"a": 1}}, "ps_car_04_cat", "expected a category"),
        ({"mystery": 1}, "mystery", "unknown feature"),
    ],
)
def test_bad_values_name_the_field(
    client: TestClient, records: list[dict[str, Any]], change: dict[str, Any], field: str, text: str
) -> None:
    r = client.post("/predict", json={**records[2], **change})
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert details[0]["field"] == field
    assert text in details[0]["message"]
    assert "row" not in details[0]  # single records have no row index


def test_missing_features_listed_or_allowed(
    make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    record = dict(records[3])
    del record["ps_reg_02"], record["ps_car_02_cat"]
    r = make_client().post("/predict", json=record)
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} == {"ps_reg_02", "ps_car_02_cat"}
    lenient = make_client(allow_missing_features=True).post("/predict", json=record)
    assert lenient.status_code == 200


def test_unseen_category_accepted_and_counted(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    r = client.post("/predict", json={**records[4], "ps_car_11_cat": 99999})
    assert r.status_code == 200
    service = client.app.state.service  # type: ignore[attr-defined]
    service.drift.process()
    text = client.get("/metrics").text
    assert 'feature_unseen_categories_total{feature="ps_car_11_cat"} 1.0' in text


@pytest.mark.parametrize(
    ("body", "content_type", "status", "kind"),
    [
        (b'{"ps_ind_01": ', "application/json", 400, "bad_request"),
        (b"", "application/json", 400, "bad_request"),
        (b"[1, 2]", "application/json", 422, "validation_error"),
        (b'"text"', "application/json", 422, "validation_error"),
        (b"ps_ind_01=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"a,b\n1,2\n", "text/csv", 415, "unsupported_media_type"),
    ],
)
def test_malformed_bodies(
    client: TestClient, body: bytes, content_type: str, status: int, kind: str
) -> None:
    r = client.post("/predict", content=body, headers={"content-type": content_type})
    assert r.status_code == status, r.text
    assert r.json()["error"]["type"] == kind


def test_batch_json_keeps_order(client: TestClient, records: list[dict[str, Any]]) -> None:
    batch = records[:50]
    r = client.post("/predict/batch", json=batch)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 50
    singles = [client.post("/predict", json=rec).json()["probability"] for rec in batch[:5]]
    rows = body["predictions"]
    assert [row["row"] for row in rows] == list(range(50))
    assert [row["id"] for row in rows] == [rec["id"] for rec in batch]
    assert [row["probability"] for row in rows[:5]] == singles
    assert len({row["prediction_id"] for row in rows}) == 50
    wrapped = client.post("/predict/batch", json={"records": batch[:3]}).json()
    assert [row["probability"] for row in wrapped["predictions"]] == singles[:3]


def test_batch_csv_body_and_upload(client: TestClient, records: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame(records[:20])
    csv = frame.to_csv(index=False)
    by_json = client.post("/predict/batch", json=records[:20]).json()["predictions"]
    body = client.post("/predict/batch", content=csv, headers={"content-type": "text/csv"})
    assert body.status_code == 200, body.text
    upload = client.post("/predict/batch", files={"file": ("rows.csv", csv, "text/csv")})
    assert upload.status_code == 200, upload.text
    for answer in (body.json()["predictions"], upload.json()["predictions"]):
        assert [r["probability"] for r in answer] == [r["probability"] for r in by_json]
        assert [r["id"] for r in answer] == [r["id"] for r in by_json]


def test_batch_errors_name_row_and_column(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    batch = [dict(r) for r in records[:10]]
    batch[7]["ps_reg_01"] = "high"
    r = client.post("/predict/batch", json=batch)
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [
        {"row": 7, "field": "ps_reg_01", "message": "expected a number, got a string"}
    ]
    frame = pd.DataFrame(records[:10])
    frame["ps_reg_01"] = frame["ps_reg_01"].astype(object)
    frame.loc[4, "ps_reg_01"] = "high"
    r = client.post(
        "/predict/batch", content=frame.to_csv(index=False), headers={"content-type": "text/csv"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [
        {"row": 4, "field": "ps_reg_01", "message": "expected a number"}
    ]


def test_empty_batches(client: TestClient, records: list[dict[str, Any]]) -> None:
    assert client.post("/predict/batch", json=[]).status_code == 422
    header = ",".join(records[0]) + "\n"
    r = client.post("/predict/batch", content=header, headers={"content-type": "text/csv"})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["message"] == "empty batch"


def test_oversized_batches_413(
    make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    small = make_client(batch_max_rows=5)
    assert small.post("/predict/batch", json=records[:5]).status_code == 200
    r = small.post("/predict/batch", json=records[:6])
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "payload_too_large"
    csv = pd.DataFrame(records[:6]).to_csv(index=False)
    r = small.post("/predict/batch", content=csv, headers={"content-type": "text/csv"})
    assert r.status_code == 413
    tiny = make_client(max_body_bytes=2048)
    r = tiny.post("/predict/batch", json=records[:10])
    assert r.status_code == 413


def test_default_row_limit_is_ten_thousand(client: TestClient) -> None:
    assert client.app.state.settings.batch_max_rows == 10_000  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"not json", "application/json", 400),
        (b'{"a": 1}', "application/json", 422),
        (b"<xml/>", "application/xml", 415),
        (b"a,b\n1,2,3,4\n", "text/csv", 422),
        (b"\xff\xfe", "text/csv", 400),
    ],
)
def test_batch_bad_bodies(client: TestClient, body: bytes, content_type: str, status: int) -> None:
    r = client.post("/predict/batch", content=body, headers={"content-type": content_type})
    assert r.status_code == status, r.text
    assert "error" in r.json()


def test_unknown_model_version_404(client: TestClient, records: list[dict[str, Any]]) -> None:
    for ref in ("20990101-000000-dead", "../../etc", "no such"):
        r = client.post("/predict", json=records[0], params={"model_version": ref})
        assert r.status_code == 404, r.text
        assert r.json()["error"]["type"] == "not_found"
    r = client.post("/predict/batch", json=records[:2], params={"model_version": "nope"})
    assert r.status_code == 404


def test_model_version_by_version_and_alias(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    for ref in (champion.version, "champion", "latest"):
        r = client.post("/predict", json=records[0], params={"model_version": ref})
        assert r.status_code == 200
        assert r.json()["model_version"] == champion.version


def test_api_key(make_client: Callable[..., TestClient], records: list[dict[str, Any]]) -> None:
    secured = make_client(api_key="s3cret-key")
    assert secured.post("/predict", json=records[0]).status_code == 401
    wrong = secured.post("/predict", json=records[0], headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    ok_header = secured.post("/predict", json=records[0], headers={"X-API-Key": "s3cret-key"})
    ok_bearer = secured.post(
        "/predict", json=records[0], headers={"Authorization": "Bearer s3cret-key"}
    )
    assert ok_header.status_code == ok_bearer.status_code == 200
    assert secured.post("/predict/batch", json=records[:2]).status_code == 401
    assert secured.post("/feedback", json={"prediction_id": "x", "label": 1}).status_code == 401
    assert secured.post("/models/reload").status_code == 401
    # Reading endpoints stay open.
    assert secured.get("/models").status_code == 200
    assert secured.get("/health").status_code == 200
    open_app = make_client()
    assert open_app.post("/predict", json=records[0]).status_code == 200


def test_request_log_line_has_no_features(
    make_client: Callable[..., TestClient],
    records: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    c = make_client(log_requests=True)
    capsys.readouterr()
    c.post("/predict", json=records[0], headers={"X-Request-ID": "req-123"})
    c.app.state.access_log.flush()  # type: ignore[attr-defined]  # lines are batched
    lines = [orjson.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    access = [x for x in lines if x.get("logger") == "porto_inference.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "req-123"
    assert line["status"] == 200
    assert line["route"] == "/predict"
    assert line["model_version"]
    assert line["latency_ms"] > 0
    assert "features" not in line
    assert "ps_ind_01" not in str(line)


def test_request_log_line_with_features_when_enabled(
    make_client: Callable[..., TestClient],
    records: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    c = make_client(log_requests=True, log_features=True)
    capsys.readouterr()
    c.post("/predict", json=records[0])
    c.app.state.access_log.flush()  # type: ignore[attr-defined]
    lines = [orjson.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    (line,) = [x for x in lines if x.get("logger") == "porto_inference.access"]
    assert orjson.loads(line["features"])["ps_ind_01"] == records[0]["ps_ind_01"]
