"""Input the API must refuse (or read) cleanly instead of answering 200 with rows PostgreSQL
then refuses, or a 500: strings PostgreSQL cannot store (U+0000, unpaired surrogates), CSV with
CR line endings, NUL bytes, oversized cells or bad UTF-8, gzip bodies, duplicate feedback ids,
405 without Allow, and the store URI /models shows. Every refusal names the row and field.

The lenient readings the API keeps on purpose (booleans and numeric strings as numbers, true as
a feedback label) are pinned here too, so a change to them is a decision, not an accident."""

from __future__ import annotations

import gzip
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from porto.bundle import Manifest

CSV = {"content-type": "text/csv"}
CATEGORY = "ps_car_11_cat"  # a categorical feature: new strings are accepted as unseen values


def _csv(records: list[dict[str, Any]]) -> str:
    return pd.DataFrame(records).to_csv(index=False)


def _error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    return error


# --- U+0000 and unpaired surrogates in JSON -------------------------------------------------------


def test_nul_in_a_category_is_refused_naming_the_field(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    body = orjson.dumps({**records[0], CATEGORY: "a\u0000b"})
    for _ in range(2):  # the refused value is not remembered as a category either
        error = _error(client.post("/predict", content=body), 422)
        assert error["details"] == [
            {"field": CATEGORY, "message": "contains U+0000 (NUL), which cannot be stored"}
        ]
    assert client.post("/predict", json={**records[0], CATEGORY: "ab"}).status_code == 200


def test_nul_in_ids_and_batches_names_row_and_field(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    error = _error(client.post("/predict", json={**records[0], "id": "7\u0000"}), 422)
    assert error["details"][0]["field"] == "id"
    batch = [dict(r) for r in records[:4]]
    batch[2][CATEGORY] = "x\u0000"
    error = _error(client.post("/predict/batch", json=batch), 422)
    assert error["details"] == [
        {"row": 2, "field": CATEGORY, "message": "contains U+0000 (NUL), which cannot be stored"}
    ]
    wrapped = [
        {"id": f"a\u0000{i}", "features": {k: v for k, v in r.items() if k != "id"}}
        for i, r in enumerate(records[:2])
    ]
    error = _error(client.post("/predict/batch", json=wrapped), 422)
    assert [(d["row"], d["field"]) for d in error["details"]] == [(0, "id"), (1, "id")]
    names = champion.feature_schema.names
    positional = [[records[3][n] for n in names]]
    positional[0][names.index(CATEGORY)] = "\u0000"
    error = _error(client.post("/predict/batch", json=positional), 422)
    assert error["details"][0] == {
        "row": 0,
        "field": CATEGORY,
        "message": "contains U+0000 (NUL), which cannot be stored",
    }


def test_unpaired_surrogates_are_refused_naming_the_field(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    one = orjson.dumps({**records[0], CATEGORY: "@"}).replace(b'"@"', b'"x\\ud800"')
    error = _error(client.post("/predict", content=one), 422)
    assert error["details"] == [
        {"field": CATEGORY, "message": "contains an unpaired surrogate (U+D800): not text"}
    ]
    batch = orjson.dumps([records[0], {**records[1], CATEGORY: "@"}]).replace(b'"@"', b'"\\udfff"')
    error = _error(client.post("/predict/batch", content=batch), 422)
    assert error["details"][0]["row"] == 1
    assert error["details"][0]["field"] == CATEGORY
    # a surrogate pair is one character, and fine
    pair = orjson.dumps({**records[0], CATEGORY: "@"}).replace(b'"@"', b'"\\ud83d\\ude00"')
    assert client.post("/predict", content=pair).status_code == 200


def test_an_id_nested_deep_is_a_422_not_a_500(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    """An id is echoed in the answer, which orjson writes up to 254 levels deep, and was checked
    recursively: nested ids past 32 levels are refused (see test_codec)."""
    for depth in (300, 1000):
        deep = b"[" * depth + b"1" + b"]" * depth
        one = orjson.dumps({**records[0], "id": "@"}).replace(b'"@"', deep)
        assert _error(client.post("/predict", content=one), 422)["details"][0]["field"] == "id"
        batch = orjson.dumps([records[1], {**records[0], "id": "@"}]).replace(b'"@"', deep)
        error = _error(client.post("/predict/batch", content=batch), 422)
        assert (error["details"][0]["row"], error["details"][0]["field"]) == (1, "id")


def test_json_text_over_the_cell_limit_is_refused(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    error = _error(client.post("/predict", json={**records[0], CATEGORY: "x" * 131_073}), 422)
    assert error["details"] == [
        {"field": CATEGORY, "message": "131073 characters: the limit is 131072"}
    ]


# --- CSV ------------------------------------------------------------------------------------------


def test_csv_with_cr_line_endings_is_read_like_lf(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    text = _csv(records[:12])
    expected = client.post("/predict/batch", content=text, headers=CSV).json()["predictions"]
    for ending in ("\r", "\r\n"):
        r = client.post("/predict/batch", content=text.replace("\n", ending), headers=CSV)
        assert r.status_code == 200, r.text
        got = r.json()["predictions"]
        assert [p["probability"] for p in got] == [p["probability"] for p in expected]
        assert [p["id"] for p in got] == [r["id"] for r in records[:12]]


def test_csv_row_limit_counts_cr_line_endings_before_parsing(
    make_client: Callable[..., TestClient], records: list[dict[str, Any]]
) -> None:
    small = make_client(batch_max_rows=5)
    frame = pd.DataFrame(records[:8])
    frame["ps_reg_01"] = frame["ps_reg_01"].astype(object)
    frame.loc[7, "ps_reg_01"] = "oops"  # only a parse would see it: the limit comes first
    text = frame.to_csv(index=False).replace("\n", "\r")
    error = _error(small.post("/predict/batch", content=text, headers=CSV), 413)
    assert error["message"] == "8 rows: the limit is 5 per request"


def test_csv_errors_after_a_cr_only_body_name_the_row(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    frame = pd.DataFrame(records[:5])
    frame["ps_reg_01"] = frame["ps_reg_01"].astype(object)
    frame.loc[3, "ps_reg_01"] = "oops"
    text = frame.to_csv(index=False).replace("\n", "\r")
    error = _error(client.post("/predict/batch", content=text, headers=CSV), 422)
    assert error["details"] == [{"row": 3, "field": "ps_reg_01", "message": "expected a number"}]


@pytest.mark.parametrize(("column", "row"), [(CATEGORY, 2), ("id", 0), ("ps_reg_01", 4)])
def test_csv_nul_byte_is_refused_naming_row_and_column(
    client: TestClient, records: list[dict[str, Any]], column: str, row: int
) -> None:
    frame = pd.DataFrame(records[:5]).astype({column: object})
    frame.loc[row, column] = f"{frame.loc[row, column]}\x00"
    error = _error(client.post("/predict/batch", content=_csv(frame), headers=CSV), 422)
    assert error["details"] == [
        {"row": row, "field": column, "message": "contains a NUL byte, which cannot be stored"}
    ]


def test_csv_that_is_not_utf8_names_row_and_column(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    frame = pd.DataFrame(records[:5]).astype({CATEGORY: object})
    frame.loc[3, CATEGORY] = "caf@"
    body = _csv(frame).encode().replace(b"caf@", b"caf\xe9")  # latin-1, not UTF-8
    error = _error(client.post("/predict/batch", content=body, headers=CSV), 400)
    assert error["message"].startswith(f"the CSV body is not UTF-8: row 3, {CATEGORY}:")


def test_csv_cells_over_the_limit_name_row_and_column(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    frame = pd.DataFrame(records[:5]).astype({CATEGORY: object, "ps_reg_01": object})
    frame.loc[2, CATEGORY] = "x" * 200_000
    error = _error(client.post("/predict/batch", content=_csv(frame), headers=CSV), 422)
    assert error["details"] == [
        {"row": 2, "field": CATEGORY, "message": "200000 characters: the limit is 131072"}
    ]
    frame.loc[1, "ps_reg_01"] = "oops"  # the slow pass that names it reads the huge cell too
    error = _error(client.post("/predict/batch", content=_csv(frame), headers=CSV), 422)
    assert error["details"] == [{"row": 1, "field": "ps_reg_01", "message": "expected a number"}]


def test_csv_header_field_over_the_limit_is_a_400(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    text = "y" * 200_000 + "," + _csv(records[:3])
    error = _error(client.post("/predict/batch", content=text, headers=CSV), 400)
    assert error["message"] == (
        "the CSV header's column 1 has 200000 characters: the limit is 131072"
    )


def test_a_huge_csv_upload_is_not_a_500(client: TestClient, records: list[dict[str, Any]]) -> None:
    text = "z" * 300_000 + "\n1,2\n"
    r = client.post("/predict/batch", files={"file": ("rows.csv", text, "text/csv")})
    assert r.status_code == 400, r.text
    assert client.post("/predict/batch", content=_csv(records[:2]), headers=CSV).status_code == 200


# --- Content-Encoding -----------------------------------------------------------------------------


def test_gzip_bodies_are_decoded(client: TestClient, records: list[dict[str, Any]]) -> None:
    plain = client.post("/predict/batch", json=records[:5]).json()["predictions"]
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    r = client.post(
        "/predict/batch", content=gzip.compress(orjson.dumps(records[:5])), headers=headers
    )
    assert r.status_code == 200, r.text
    assert [p["probability"] for p in r.json()["predictions"]] == [p["probability"] for p in plain]
    one = client.post("/predict", content=gzip.compress(orjson.dumps(records[0])), headers=headers)
    assert one.status_code == 200, one.text
    csv = gzip.compress(_csv(records[:5]).encode())
    r = client.post("/predict/batch", content=csv, headers={**CSV, "content-encoding": "GZIP"})
    assert r.status_code == 200, r.text
    upload = client.post(
        "/predict/batch",
        files={"file": ("rows.csv", _csv(records[:5]), "text/csv")},
        headers={"content-encoding": "identity"},
    )
    assert upload.status_code == 200, upload.text


def _multipart(content: bytes) -> bytes:
    return (
        b'--b0und\r\nContent-Disposition: form-data; name="file"; filename="rows.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + content + b"\r\n--b0und--\r\n"
    )


def test_gzip_multipart_uploads_are_decoded(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    headers = {"content-type": "multipart/form-data; boundary=b0und", "content-encoding": "gzip"}
    body = gzip.compress(_multipart(_csv(records[:5]).encode()))
    r = client.post("/predict/batch", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 5


def test_a_gzip_bomb_is_a_413(make_client: Callable[..., TestClient]) -> None:
    small = make_client(max_body_bytes=1_000_000)
    bomb = gzip.compress(b"[" + b" " * 50_000_000 + b"]", compresslevel=9)
    assert len(bomb) < 100_000
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    error = _error(small.post("/predict/batch", content=bomb, headers=headers), 413)
    assert "decompressed" in error["message"]
    upload_bomb = gzip.compress(_multipart(b"a" * 50_000_000), compresslevel=9)
    headers = {"content-type": "multipart/form-data; boundary=b0und", "content-encoding": "gzip"}
    error = _error(small.post("/predict/batch", content=upload_bomb, headers=headers), 413)
    assert "decompressed" in error["message"]
    assert small.post("/predict/batch", json=[]).status_code == 422  # still serving


@pytest.mark.parametrize(
    ("encoding", "body", "status"),
    [
        ("br", b"\x0b\x02\x80[]\x03", 415),
        ("gzip, br", b"x", 415),
        ("deflate", b"x", 415),
        ("gzip", b"definitely not gzip", 400),
        ("gzip", gzip.compress(b"[1, 2, 3]")[:-6], 400),  # truncated
    ],
)
def test_bad_or_unsupported_encodings(
    client: TestClient, encoding: str, body: bytes, status: int
) -> None:
    headers = {"content-type": "application/json", "content-encoding": encoding}
    error = _error(client.post("/predict/batch", content=body, headers=headers), status)
    assert encoding.split(",")[-1].strip() in error["message"] or status == 400


# --- 405 ------------------------------------------------------------------------------------------


def test_405_carries_allow(client: TestClient) -> None:
    r = client.get("/predict")
    error = _error(r, 405)
    assert error["type"] == "method_not_allowed"
    assert r.headers["allow"] == "POST"
    assert client.delete("/models").headers["allow"] == "GET"


# --- /feedback ------------------------------------------------------------------------------------


def test_feedback_refuses_duplicate_ids(client: TestClient) -> None:
    pid = "0192f3c4-6a5e-7c1d-8e2f-3a4b5c6d7e8f"
    items = [
        {"prediction_id": pid, "label": 1},
        {"prediction_id": "0192f3c4-6a5e-7c1d-8e2f-3a4b5c6d7e90", "label": 0},
        {"prediction_id": pid.upper(), "label": 0},  # the same UUID
    ]
    error = _error(client.post("/feedback", json=items), 422)
    assert error["details"] == [
        {
            "row": 2,
            "field": "prediction_id",
            "message": "the same id as row 0: send each prediction id once",
        }
    ]


def test_a_label_nested_past_the_encoders_depth_is_a_422(client: TestClient) -> None:
    """The error names the label it refuses: one orjson cannot write (255 levels and more) was
    a 500."""
    for depth in (300, 1000):
        body = b'{"prediction_id": "p", "label": ' + b"[" * depth + b"1" + b"]" * depth + b"}"
        error = _error(client.post("/feedback", content=body), 422)
        assert error["details"][0]["field"] == "label"
        assert error["details"][0]["message"].startswith("a deeply nested list is not a label")


def test_feedback_refuses_ids_that_cannot_be_stored(client: TestClient) -> None:
    error = _error(client.post("/feedback", json={"prediction_id": "a\u0000", "label": 1}), 422)
    assert error["details"] == [
        {
            "row": 0,
            "field": "prediction_id",
            "message": "contains U+0000 (NUL), which cannot be stored",
        }
    ]
    body = b'[{"prediction_id": "\\udc00", "label": 1}]'
    error = _error(client.post("/feedback", content=body), 422)
    assert error["details"][0]["field"] == "prediction_id"


# --- /models --------------------------------------------------------------------------------------


def test_models_shows_the_store_only_with_the_key(
    make_client: Callable[..., TestClient],
) -> None:
    keyed = make_client(api_key="k3y-for-tests")
    assert keyed.get("/models").json()["store"] is None
    shown = keyed.get("/models", headers={"x-api-key": "k3y-for-tests"}).json()["store"]
    assert shown and shown.endswith("artifacts")
    assert keyed.get("/models", headers={"x-api-key": "wrong"}).json()["store"] is None


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("s3://porto/models", "s3://porto/models"),
        ("s3://AKIA:s3cret@porto/models", "s3://porto/models"),
        ("https://user:pw@minio:9000/porto?X-Amz-Signature=abc#x", "https://minio:9000/porto"),
        ("file:///srv/porto/artifacts", "file:///srv/porto/artifacts"),
        ("/srv/porto/artifacts", "/srv/porto/artifacts"),
    ],
)
def test_store_uri_never_shows_credentials(uri: str, shown: str) -> None:
    from porto_inference.api.routes.models import public_store_uri

    assert public_store_uri(uri) == shown


# --- lenient readings, kept on purpose ------------------------------------------------------------


def test_booleans_and_numeric_strings_read_as_numbers(
    client: TestClient, records: list[dict[str, Any]]
) -> None:
    record = {**records[0], "ps_ind_06_bin": 1, "ps_reg_01": 0.5, "ps_ind_15": 7}
    expected = client.post("/predict", json=record).json()["probability"]
    lenient = {**record, "ps_ind_06_bin": True, "ps_reg_01": "0.5", "ps_ind_15": " 7 "}
    assert client.post("/predict", json=lenient).json()["probability"] == expected
    text = _csv([{**record, "ps_ind_06_bin": "true"}])
    r = client.post("/predict/batch", content=text, headers=CSV)
    assert r.json()["predictions"][0]["probability"] == expected
    for bad in ("abc", "", [1]):
        assert client.post("/predict", json={**record, "ps_reg_01": bad}).status_code == 422


def test_csv_module_limit_is_not_left_lowered() -> None:
    """The CSV reader reads any cell (the size check is porto's own, with row and column)."""
    import csv

    import porto_inference.scoring.csv_input  # noqa: F401

    assert csv.field_size_limit() > 131_072
    assert list(csv.reader(io.StringIO("x" * 200_000))) == [["x" * 200_000]]


# --- the real server ---------------------------------------------------------------------------


@pytest.mark.integration
def test_the_real_server_refuses_bad_input_and_keeps_logging(
    home: Path, tmp_path: Path, pg_url: str, records: list[dict[str, Any]]
) -> None:
    """Through gunicorn and uvicorn's HTTP parser, with the prediction log on a real PostgreSQL:
    every bad input is a 4xx, and the good requests around them are all logged."""
    import httpx
    from harness.timing import DEADLINE
    from inference.pg import count
    from inference.servers import running_server

    text = _csv(records[:5])
    nul = pd.DataFrame(records[:5]).astype({CATEGORY: object})
    nul.loc[1, CATEGORY] = "a\x00"
    surrogate = orjson.dumps({**records[0], CATEGORY: "@"}).replace(b'"@"', b'"\\ud800"')
    bomb = gzip.compress(b"[" + b" " * 20_000_000 + b"]", compresslevel=9)
    json_type = {"content-type": "application/json"}
    gzipped = {"content-encoding": "gzip"}
    pid = "0192f3c4-6a5e-7c1d-8e2f-3a4b5c6d7e8f"
    with (
        running_server(home, tmp_path, workers=1, database_url=pg_url, max_body_bytes=10**6) as srv,
        httpx.Client(base_url=srv.url, timeout=30) as c,
    ):
        assert c.post("/predict", json=records[0]).status_code == 200
        refused = {
            "nul": c.post("/predict", json={**records[0], CATEGORY: "a\u0000"}),
            "surrogate": c.post("/predict", content=surrogate, headers=json_type),
            "csv nul": c.post("/predict/batch", content=_csv(nul).replace("\n", "\r"), headers=CSV),
            "bomb": c.post("/predict/batch", content=bomb, headers={**json_type, **gzipped}),
            "br": c.post("/predict/batch", content=b"x", headers={**CSV, "content-encoding": "br"}),
            "duplicates": c.post("/feedback", json=[{"prediction_id": pid, "label": 1}] * 2),
            "method": c.get("/predict"),
        }
        statuses = {name: r.status_code for name, r in refused.items()}
        assert statuses == {
            "nul": 422,
            "surrogate": 422,
            "csv nul": 422,
            "bomb": 413,
            "br": 415,
            "duplicates": 422,
            "method": 405,
        }
        cr_gzip = gzip.compress(text.replace("\n", "\r").encode())
        r = c.post("/predict/batch", content=cr_gzip, headers={**CSV, **gzipped})
        assert r.status_code == 200, r.text
        assert r.json()["count"] == 5
        deadline = time.monotonic() + DEADLINE
        while count(pg_url) < 6 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert count(pg_url) == 6
