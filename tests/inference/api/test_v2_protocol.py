"""The Open Inference Protocol (KServe V2) routes through the real app (lifespan, middleware,
error handling): metadata, readiness, every input shape and datatype the protocol allows giving
/predict's probabilities, the binary tensor data extension (bodies made and read by
``tritonclient``'s own helpers), and every bad input answered 4xx in the protocol's
``{"error": ...}`` shape. The third-party clients against a real server:
``test_v2_clients.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from fastapi.testclient import TestClient
from inference.pg import flush_log, sql
from porto.bundle import Manifest
from porto.contracts.oip import InferenceRequest, InferenceResponse, ModelMetadata
from porto.schema import FeatureKind

INFER = "/v2/models/porto/infer"
INFER_ROUTE = "/v2/models/{model_name}/infer"
INFER_VERSION_ROUTE = "/v2/models/{model_name}/versions/{model_version}/infer"


def _datatype(champion: Manifest, name: str) -> str:
    spec = champion.feature_schema.spec(name)
    return "INT64" if spec.kind is FeatureKind.CATEGORICAL else "FP64"


def per_feature(
    rows: list[dict[str, Any]], champion: Manifest, *, column: bool = False
) -> list[dict[str, Any]]:
    """One input per feature for ``rows``; ``column``: shape [n, 1] with nested data."""
    inputs = []
    for name in champion.feature_schema.names:
        datatype = _datatype(champion, name)
        cast = int if datatype == "INT64" else float
        values = [cast(r[name]) for r in rows]
        shape = [len(rows), 1] if column else [len(rows)]
        data: list[Any] = [[v] for v in values] if column else values
        inputs.append({"name": name, "shape": shape, "datatype": datatype, "data": data})
    return inputs


def matrix(rows: list[dict[str, Any]], champion: Manifest, datatype: str = "FP64") -> dict:
    names = champion.feature_schema.names
    cast: Callable[[Any], Any] = str if datatype == "BYTES" else float
    data = [[cast(r[n]) for n in names] for r in rows]
    return {"name": "input", "shape": [len(rows), len(names)], "datatype": datatype, "data": data}


def outputs(body: dict[str, Any]) -> dict[str, list[Any]]:
    return {o["name"]: o["data"] for o in body["outputs"]}


def predict_probabilities(client: TestClient, rows: list[dict[str, Any]]) -> list[float]:
    answer = client.post("/predict/batch", json=rows)
    assert answer.status_code == 200, answer.text
    return [p["probability"] for p in answer.json()["predictions"]]


def assert_error(response: Any, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str), body
    for word in words:
        assert word in body["error"], body["error"]


# --- server and model metadata ------------------------------------------------------------------
def test_server_metadata_and_health(client: TestClient) -> None:
    meta = client.get("/v2").json()
    assert meta["name"] == "porto-inference"
    assert meta["extensions"] == ["binary_tensor_data"]
    assert client.get("/v2/health/live").json() == {"live": True}
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}


def test_model_metadata_lists_the_features_and_every_servable_version(
    client: TestClient, champion: Manifest
) -> None:
    answer = client.get("/v2/models/porto")
    assert answer.status_code == 200, answer.text
    meta = ModelMetadata.model_validate_json(answer.content)
    assert meta.name == "porto" and meta.platform == "catboost"
    assert [i.name for i in meta.inputs] == champion.feature_schema.names
    assert {i.datatype for i in meta.inputs} == {"FP64", "INT64"}
    assert all(i.shape == [-1] for i in meta.inputs)
    width = len(champion.feature_schema.names)
    assert [(o.name, o.datatype, o.shape) for o in meta.outputs] == [
        ("probability", "FP64", [-1]),
        ("class", "INT64", [-1]),
        ("prediction_id", "BYTES", [-1]),
        ("contributions", "FP64", [-1, width]),
        ("base_value", "FP64", [-1]),
    ]
    assert meta.versions == [champion.version, "champion", "latest"]
    for ref in (champion.version, "champion", "latest"):
        by_version = client.get(f"/v2/models/porto/versions/{ref}")
        assert by_version.status_code == 200
        assert by_version.content == answer.content


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/other",
        "/v2/models/other/ready",
        "/v2/models/other/versions/champion",
        "/v2/models/porto/versions/nope",
        "/v2/models/porto/versions/nope/ready",
        "/v2/models/porto/versions/" + "x" * 300,
        "/v2/models/porto/versions/bad..name/ready",
    ],
)
def test_unknown_model_or_version_is_a_404(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404)


def test_model_readiness(client: TestClient, champion: Manifest) -> None:
    assert client.get("/v2/models/porto/ready").json() == {"name": "porto", "ready": True}
    for ref in (champion.version, "latest"):
        ready = client.get(f"/v2/models/porto/versions/{ref}/ready")
        assert ready.status_code == 200 and ready.json()["ready"] is True


# --- inference: every shape gives /predict's probabilities ---------------------------------------
def test_one_input_per_feature_gives_predicts_probabilities(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    rows = records[:25]
    expected = predict_probabilities(client, rows)
    for column in (False, True):
        answer = client.post(
            INFER, json={"id": "r1", "inputs": per_feature(rows, champion, column=column)}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model_name"] == "porto" and body["model_version"] == champion.version
        assert body["id"] == "r1"
        assert body["parameters"] == {"threshold": champion.threshold}
        got = outputs(body)
        assert got["probability"] == expected
        assert got["class"] == [int(p >= champion.threshold) for p in expected]
        assert len(set(got["prediction_id"])) == len(rows)
        assert [o["shape"] for o in body["outputs"]] == [[25], [25], [25]]


def test_a_single_row_gives_predicts_probability(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    expected = client.post("/predict", json=records[3]).json()
    answer = client.post(INFER, json={"inputs": per_feature(records[3:4], champion)})
    assert answer.status_code == 200, answer.text
    got = outputs(answer.json())
    assert got["probability"] == [expected["probability"]]
    assert got["class"] == [expected["class"]]
    assert "id" not in answer.json()


def test_one_2d_input_in_model_order(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    rows = records[:12]
    expected = predict_probabilities(client, rows)
    for datatype in ("FP64", "BYTES"):  # BYTES: every value as text, numbers read as numbers
        answer = client.post(INFER, json={"inputs": [matrix(rows, champion, datatype)]})
        assert answer.status_code == 200, answer.text
        assert outputs(answer.json())["probability"] == expected
    flat = matrix(rows, champion)
    flat["data"] = [v for row in flat["data"] for v in row]
    assert outputs(client.post(INFER, json={"inputs": [flat]}).json())["probability"] == expected
    single = client.post(INFER, json={"inputs": [matrix(rows[:1], champion)]})
    assert outputs(single.json())["probability"] == expected[:1]


def test_integer_bool_and_bytes_datatypes(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    """Categories as INT32 or BYTES, binary features as BOOL or UINT8: the same rows score the
    same (3, 3.0 and "3" are one category, as in /predict)."""
    rows = records[:8]
    expected = predict_probabilities(client, rows)
    inputs = per_feature(rows, champion)
    for item in inputs:
        spec = champion.feature_schema.spec(item["name"])
        if spec.kind is FeatureKind.CATEGORICAL:
            item["datatype"], item["data"] = "BYTES", [str(v) for v in item["data"]]
        elif spec.kind is FeatureKind.BINARY and -1 not in item["data"]:
            item["datatype"], item["data"] = "BOOL", [bool(v) for v in item["data"]]
    answer = client.post(INFER, json={"inputs": inputs})
    assert answer.status_code == 200, answer.text
    assert outputs(answer.json())["probability"] == expected
    for item, original in zip(inputs, per_feature(rows, champion), strict=True):
        if original["datatype"] == "INT64":
            item["datatype"], item["data"] = "INT32", original["data"]
        elif item["datatype"] == "BOOL":
            item["datatype"], item["data"] = "UINT8", [int(v) for v in item["data"]]
    answer = client.post(INFER, json={"inputs": inputs})
    assert outputs(answer.json())["probability"] == expected


def test_booleans_in_numeric_tensors_are_one_and_zero(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    """As /predict reads a JSON boolean for a number: in one row and in a batch."""
    for rows in (records[:1], records[:5]):
        inputs = per_feature(rows, champion)
        for item in inputs:
            if item["name"] == "ps_ind_06_bin":
                item["data"] = [bool(v) for v in item["data"]]
            if item["name"] == "ps_ind_02_cat":
                item["data"] = [True, *item["data"][1:]]
        expected = [dict(r, ps_ind_02_cat=1) for r in rows][:1] + rows[1:]
        answer = client.post(INFER, json={"inputs": inputs})
        assert outputs(answer.json())["probability"] == predict_probabilities(client, expected)


def test_null_in_a_float_tensor_is_a_missing_value(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    for n in (1, 4):
        rows = [dict(r, ps_reg_03=None) for r in records[:n]]
        expected = predict_probabilities(client, rows)
        inputs = per_feature(records[:n], champion)
        for item in inputs:
            if item["name"] == "ps_reg_03":
                item["data"] = [None] * n
        answer = client.post(INFER, json={"inputs": inputs})
        assert outputs(answer.json())["probability"] == expected


def test_requested_outputs_and_a_version_by_alias(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    rows = records[:4]
    expected = predict_probabilities(client, rows)
    request = {
        "inputs": per_feature(rows, champion),
        "outputs": [
            {"name": "class"},
            {"name": "probability", "parameters": {"binary_data": False}},
        ],
    }
    for path in (INFER, "/v2/models/porto/versions/champion/infer"):
        body = client.post(path, json=request).json()
        assert [o["name"] for o in body["outputs"]] == ["class", "probability"]
        assert outputs(body)["probability"] == expected
        assert body["model_version"] == champion.version


def test_the_answer_is_the_response_contract(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    answer = client.post(INFER, json={"id": "x", "inputs": per_feature(records[:3], champion)})
    model = InferenceResponse.model_validate_json(answer.content)
    assert answer.content == model.model_dump_json(exclude_none=True).encode()
    assert answer.headers["content-type"] == "application/json"


def test_binary_tensor_data_both_ways(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    """A body made by tritonclient's own request builder (binary inputs, binary outputs), read
    back by its own response parser."""
    rows = records[:30]
    expected = predict_probabilities(client, rows)
    inputs = []
    for name in champion.feature_schema.names:
        spec = champion.feature_schema.spec(name)
        if spec.kind is FeatureKind.CATEGORICAL:
            item = triton.InferInput(name, [len(rows)], "BYTES")
            item.set_data_from_numpy(np.array([str(r[name]).encode() for r in rows], dtype=object))
        else:
            item = triton.InferInput(name, [len(rows)], "FP32" if name == "ps_ind_01" else "FP64")
            array = np.array([r[name] for r in rows], dtype=np.float64)
            item.set_data_from_numpy(array.astype(np.float32) if name == "ps_ind_01" else array)
        inputs.append(item)
    wanted = [triton.InferRequestedOutput(n) for n in ("probability", "class", "prediction_id")]
    body, header_length = triton.InferenceServerClient.generate_request_body(inputs, outputs=wanted)
    assert header_length is not None
    answer = client.post(
        INFER,
        content=body,
        headers={
            "Inference-Header-Content-Length": str(header_length),
            "content-type": "application/octet-stream",
        },
    )
    assert answer.status_code == 200, answer.text
    length = int(answer.headers["inference-header-content-length"])
    result = triton.InferenceServerClient.parse_response_body(answer.content, header_length=length)
    assert result.as_numpy("probability").tolist() == expected
    assert result.as_numpy("class").dtype == np.int64
    assert len({p.decode() for p in result.as_numpy("prediction_id")}) == len(rows)


def test_the_openapi_document_describes_the_protocol(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (INFER_ROUTE, INFER_VERSION_ROUTE):
        operation = paths[path]["post"]
        assert operation["security"]
        assert {p["name"] for p in operation["parameters"]} <= {"model_name", "model_version"}
        body = operation["requestBody"]["content"]["application/json"]
        assert set(body["schema"]["properties"]) == {"id", "parameters", "inputs", "outputs"}
        for example in body["examples"].values():
            InferenceRequest.model_validate(example["value"])
        answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer == {"$ref": "#/components/schemas/InferenceResponse"}
        assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/InferenceError"
        }
    assert paths["/v2/models/{model_name}"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"] == {"$ref": "#/components/schemas/ModelMetadata"}


# --- bad input: 4xx in the protocol's shape, never 5xx -----------------------------------------
def _inputs(records: list[dict[str, Any]], champion: Manifest, n: int = 3) -> list[dict]:
    return per_feature(records[:n], champion)


def _edit(inputs: list[dict], name: str, **changes: Any) -> list[dict]:
    return [dict(i, **changes) if i["name"] == name else i for i in inputs]


BAD_REQUESTS: dict[str, tuple[Callable[[list[dict], Manifest], Any], int, tuple[str, ...]]] = {
    "not json": (lambda i, c: b"{nope", 400, ("malformed JSON",)),
    "not an object": (lambda i, c: [1, 2], 400, ("JSON object",)),
    "no inputs": (lambda i, c: {"inputs": []}, 400, ("'inputs'",)),
    "inputs not a list": (lambda i, c: {"inputs": {"a": 1}}, 400, ("'inputs'",)),
    "input not an object": (lambda i, c: {"inputs": [3]}, 400, ("inputs[0]",)),
    "input without name": (lambda i, c: {"inputs": [{"shape": [1]}]}, 400, ("no name",)),
    "unknown input": (
        lambda i, c: {"inputs": [*i, dict(i[0], name="bogus")]},
        400,
        ("unknown input 'bogus'",),
    ),
    "missing input": (lambda i, c: {"inputs": i[1:]}, 400, ("missing input", "ps_ind_01")),
    "duplicate input": (lambda i, c: {"inputs": [*i, i[0]]}, 400, ("given twice",)),
    "unknown datatype": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_01", datatype="FP8")},
        400,
        ("'ps_ind_01'", "unknown datatype"),
    ),
    "FP16": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_01", datatype="FP16")},
        400,
        ("not supported",),
    ),
    "no datatype": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_01", datatype=None)},
        400,
        ("no datatype",),
    ),
    "feature shape [n, 2]": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_01", shape=[1, 3], data=[1, 2, 3])},
        400,
        ("'ps_ind_01'", "[n] or [n, 1]"),
    ),
    "rows differ between inputs": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_03", shape=[2], data=[1, 2])},
        400,
        ("'ps_ind_03' has 2 rows",),
    ),
    "three dimensions": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_01", shape=[3, 1, 1], data=[1, 2, 3])},
        400,
        ("3 dimensions",),
    ),
    "shape not a list": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_01", shape="3")},
        400,
        ("'shape'",),
    ),
    "negative size": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_01", shape=[-3])},
        400,
        ("'shape'",),
    ),
    "data shorter than the shape": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_01", data=[1, 2])},
        400,
        ("holds 3 values", "has 2"),
    ),
    "data longer than the shape": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_01", data=[1, 2, 3, 4])},
        400,
        ("has 4",),
    ),
    "nested data not matching the shape": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_01", shape=[3, 1], data=[[1, 2], [3], []])},
        400,
        ("nested",),
    ),
    "no data": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_01", data=None)},
        400,
        ("no 'data'",),
    ),
    "string in FP64": (
        lambda i, c: {"inputs": _edit(i, "ps_reg_01", data=[0.1, "abc", 0.3])},
        400,
        ("'ps_reg_01'", "element 1 is a string, not a number"),
    ),
    "numeric string in FP64": (
        lambda i, c: {"inputs": _edit(i, "ps_reg_01", data=[0.1, "0.2", 0.3])},
        400,
        ("element 1 is a string",),
    ),
    "float in INT64": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_02_cat", data=[1, 2.5, 2])},
        400,
        ("element 1 is float",),
    ),
    "null in INT64": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_02_cat", data=[1, None, 2])},
        400,
        ("element 1 is null",),
    ),
    "number in BYTES": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_02_cat", datatype="BYTES", data=["1", 2, "3"])},
        400,
        ("not a string",),
    ),
    "object in a tensor": (
        lambda i, c: {"inputs": _edit(i, "ps_reg_01", data=[0.1, {"a": 1}, 0.3])},
        400,
        ("an object",),
    ),
    "out of range for INT8": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_02_cat", datatype="INT8", data=[1, 300, 2])},
        400,
        ("out of range for INT8",),
    ),
    "negative UINT8": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_02_cat", datatype="UINT8", data=[1, -1, 2])},
        400,
        ("out of range for UINT8",),
    ),
    "2-D input with the wrong width": (
        lambda i, c: {
            "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]
        },
        400,
        ("3 columns", "57 features in model order"),
    ),
    "unknown output": (
        lambda i, c: {"inputs": i, "outputs": [{"name": "logits"}]},
        400,
        ("unknown output 'logits'",),
    ),
    "output requested twice": (
        lambda i, c: {"inputs": i, "outputs": [{"name": "class"}, {"name": "class"}]},
        400,
        ("twice",),
    ),
    "empty outputs": (lambda i, c: {"inputs": i, "outputs": []}, 400, ("'outputs' is empty",)),
    "binary_data not a boolean": (
        lambda i, c: {
            "inputs": i,
            "outputs": [{"name": "class", "parameters": {"binary_data": 1}}],
        },
        400,
        ("binary_data",),
    ),
    "id not a string": (lambda i, c: {"id": 7, "inputs": i}, 400, ("'id'",)),
    "empty batch": (
        lambda i, c: {
            "inputs": [
                {"name": n, "shape": [0], "datatype": "FP64", "data": []}
                for n in c.feature_schema.names
            ]
        },
        422,
        ("no records",),
    ),
    "a value the schema refuses (binary feature = 2)": (
        lambda i, c: {"inputs": _edit(i, "ps_ind_06_bin", data=[0, 2, 1])},
        422,
        ("row 1", "ps_ind_06_bin", "expected 0 or 1"),
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_a_4xx_naming_the_problem(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest, case: str
) -> None:
    build, status, words = BAD_REQUESTS[case]
    body = build(_inputs(records, champion), champion)
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    answer = client.post(INFER, content=content, headers={"content-type": "application/json"})
    assert_error(answer, status, *words)


def test_unknown_model_or_version_on_infer(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    request = {"inputs": _inputs(records, champion)}
    assert_error(client.post("/v2/models/other/infer", json=request), 404, "unknown model 'other'")
    assert_error(client.post("/v2/models/porto/versions/v0/infer", json=request), 404, "'v0'")
    long = "/v2/models/porto/versions/" + "v" * 129 + "/infer"
    assert_error(client.post(long, json=request), 404, "129 characters")


def test_batch_and_body_limits_are_predict_batchs(
    make_client: Callable[..., TestClient], records: list[dict[str, Any]], champion: Manifest
) -> None:
    client = make_client(batch_max_rows=5, max_body_bytes=20_000)
    assert (
        client.post(INFER, json={"inputs": per_feature(records[:5], champion)}).status_code == 200
    )
    assert_error(
        client.post(INFER, json={"inputs": per_feature(records[:6], champion)}),
        413,
        "6 rows",
        "limit is 5",
    )
    big = {
        "inputs": [{"name": "ps_reg_01", "shape": [1], "datatype": "BYTES", "data": ["x" * 25_000]}]
    }
    assert_error(client.post(INFER, json=big), 413, "20000")


def test_binary_framing_errors(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest
) -> None:
    inputs = per_feature(records[:2], champion)
    header = orjson.dumps({"inputs": inputs})
    cases = [
        ({"Inference-Header-Content-Length": "abc"}, header, "Inference-Header-Content-Length"),
        ({"Inference-Header-Content-Length": "999999"}, header, "the body has"),
        ({"Inference-Header-Content-Length": str(len(header))}, header + b"\0" * 8, "8 bytes"),
    ]
    reg = _edit(inputs, "ps_reg_01", data=None, parameters={"binary_data_size": 16})
    short = orjson.dumps({"inputs": reg})
    cases.append(
        ({"Inference-Header-Content-Length": str(len(short))}, short + b"\0" * 4, "only 4")
    )
    odd = orjson.dumps({"inputs": _edit(reg, "ps_reg_01", parameters={"binary_data_size": 12})})
    cases.append(({"Inference-Header-Content-Length": str(len(odd))}, odd + b"\0" * 12, "needs 16"))
    both = orjson.dumps({"inputs": _edit(inputs, "ps_reg_01", parameters={"binary_data_size": 16})})
    cases.append(({"Inference-Header-Content-Length": str(len(both))}, both + b"\0" * 16, "both"))
    cat = _edit(
        inputs, "ps_car_01_cat", datatype="BYTES", data=None, parameters={"binary_data_size": 6}
    )
    text = orjson.dumps({"inputs": cat})
    truncated = (2).to_bytes(4, "little") + b"\xff\xfe"
    cases.append(({"Inference-Header-Content-Length": str(len(text))}, text + truncated, "UTF-8"))
    for headers, body, word in cases:
        assert_error(client.post(INFER, content=body, headers=headers), 400, word)


def test_the_api_key_guards_infer_only(
    make_client: Callable[..., TestClient], records: list[dict[str, Any]], champion: Manifest
) -> None:
    client = make_client(api_key="k" * 40)
    request = {"inputs": per_feature(records[:1], champion)}
    answer = client.post(INFER, json=request)
    assert_error(answer, 401, "API key")
    assert answer.headers["www-authenticate"] == "Bearer"
    assert client.post(INFER, json=request, headers={"X-API-Key": "k" * 40}).status_code == 200
    for path in ("/v2", "/v2/health/ready", "/v2/models/porto", "/v2/models/porto/ready"):
        assert client.get(path).status_code == 200, path


# --- the same metrics and prediction log as the other routes -----------------------------------
@pytest.mark.integration
def test_v2_predictions_are_logged_and_counted(
    make_client: Callable[..., TestClient],
    pg_url: str,
    records: list[dict[str, Any]],
    champion: Manifest,
) -> None:
    client = make_client(prediction_log=True, database_url=pg_url)
    sent = per_feature(records[:7], champion)
    ids = {"name": "id", "shape": [7], "datatype": "INT64", "data": [r["id"] for r in records[:7]]}
    batch = client.post(INFER, json={"inputs": [*sent, ids]}).json()
    single = client.post(
        "/v2/models/porto/versions/champion/infer",
        json={"inputs": per_feature(records[7:8], champion)},
        headers={"X-Request-ID": "v2-one"},
    ).json()
    refused = client.post(INFER, json={"inputs": per_feature(records[:1], champion)[1:]})
    assert refused.status_code == 400
    assert flush_log(client)
    query = (
        "SELECT p.*, f.features AS named FROM prediction_log AS p "
        "JOIN prediction_log_features AS f USING (prediction_id)"
    )
    logged = {str(r["prediction_id"]): r for r in sql(pg_url, query)}
    assert len(logged) == 8
    answered = outputs(batch)
    for i, (pid, p) in enumerate(
        zip(answered["prediction_id"], answered["probability"], strict=True)
    ):
        row = logged[pid]
        assert row["endpoint"] == INFER_ROUTE
        assert row["score"] == p
        assert row["model_version"] == champion.version
        assert row["record_id"] == str(records[i]["id"])  # the id column, sent as an input
        # the features as sent, by name
        assert orjson.loads(row["named"]) == {t["name"]: t["data"][i] for t in sent}
    one = logged[outputs(single)["prediction_id"][0]]
    assert orjson.loads(one["named"]) == {
        t["name"]: t["data"][0] for t in per_feature(records[7:8], champion)
    }
    assert one["endpoint"] == INFER_VERSION_ROUTE and one["request_id"] == "v2-one"

    text = client.get("/metrics").text
    version = champion.version
    assert f'batch_size_count{{endpoint="{INFER_ROUTE}",model="{version}"}} 1.0' in text
    assert f'batch_size_sum{{endpoint="{INFER_ROUTE}",model="{version}"}} 7.0' in text
    assert f'batch_size_sum{{endpoint="{INFER_VERSION_ROUTE}",model="{version}"}} 1.0' in text
    ok = f'inference_requests_total{{endpoint="{INFER_ROUTE}",model="{version}",status="200"}} 1.0'
    assert ok in text
    bad = f'inference_errors_total{{endpoint="{INFER_ROUTE}",model="{version}",status="400"}} 1.0'
    assert bad in text


# --- explanations -------------------------------------------------------------------------------
@pytest.mark.parametrize("rows", [1, 30])
def test_explain_adds_contributions_that_sum_to_the_log_odds(
    client: TestClient, records: list[dict[str, Any]], champion: Manifest, rows: int
) -> None:
    """``parameters.explain``: contributions [n, features] in the metadata's input order and
    base_value [n], base + a row's contributions = its log-odds (1e-6), the same numbers as
    /predict/batch?explain=true; without it, neither output."""
    sent = records[:rows]
    names = champion.feature_schema.names
    body = {"inputs": [matrix(sent, champion)], "parameters": {"explain": True}}
    answer = client.post("/v2/models/porto/infer", json=body)
    assert answer.status_code == 200, answer.text
    got = answer.json()["outputs"]
    assert [o["name"] for o in got] == [
        "probability",
        "class",
        "prediction_id",
        "contributions",
        "base_value",
    ]
    shapes = {o["name"]: o["shape"] for o in got}
    assert shapes["contributions"] == [rows, len(names)] and shapes["base_value"] == [rows]
    data = outputs(answer.json())
    contributions = np.asarray(data["contributions"]).reshape(rows, len(names))
    raw = np.asarray(data["base_value"]) + contributions.sum(axis=1)
    probabilities = np.asarray(data["probability"])
    np.testing.assert_allclose(1 / (1 + np.exp(-raw)), probabilities, atol=1e-9)
    explained = client.post("/predict/batch?explain=true", json=sent).json()["predictions"]
    for i, item in enumerate(explained):
        e = item["explanation"]
        assert data["base_value"][i] == pytest.approx(e["base_value"], abs=1e-9)
        np.testing.assert_allclose(contributions[i], list(e["contributions"].values()), atol=1e-9)
    plain = client.post("/v2/models/porto/infer", json={"inputs": [matrix(sent, champion)]})
    assert [o["name"] for o in plain.json()["outputs"]] == ["probability", "class", "prediction_id"]


def test_explanation_outputs_by_name_in_binary_and_their_limits(
    make_client: Callable[..., TestClient], records: list[dict[str, Any]], champion: Manifest
) -> None:
    client = make_client(explain_max_rows=3)
    names = champion.feature_schema.names
    body = {
        "inputs": [matrix(records[:3], champion)],
        "outputs": [
            {"name": "base_value"},
            {"name": "contributions", "parameters": {"binary_data": True}},
        ],
    }
    answer = client.post("/v2/models/porto/infer", json=body)
    assert answer.status_code == 200, answer.text
    header_length = int(answer.headers["inference-header-content-length"])
    header = orjson.loads(answer.content[:header_length])
    base, contributions = header["outputs"]
    assert base["name"] == "base_value" and len(base["data"]) == 3
    assert contributions["parameters"]["binary_data_size"] == 3 * len(names) * 8
    values = np.frombuffer(answer.content[header_length:], dtype="<f8").reshape(3, len(names))
    assert np.isfinite(values).all()
    too_many = {"inputs": [matrix(records[:4], champion)], "parameters": {"explain": True}}
    assert_error(client.post("/v2/models/porto/infer", json=too_many), 413, "explain=true")
    bad = {"inputs": [matrix(records[:1], champion)], "parameters": {"explain": "yes"}}
    assert_error(client.post("/v2/models/porto/infer", json=bad), 400, "explain", "true or false")
