"""Third-party Open Inference Protocol clients against the real server (``porto-inference
serve``: gunicorn, two workers, the prediction log in PostgreSQL, an API key): Triton's
``tritonclient[http]`` and the kserve SDK's ``InferenceRESTClient`` get the probabilities
/predict gives for the same rows, with JSON tensors and with binary tensor data, and what they
score is counted in the same metrics and logged in the same prediction log.

The kserve SDK lives in an environment of its own (``tests/clients/kserve``, synced by ``make
install``: its pins cannot join the workspace's lock), so it runs as a child process."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from harness.postgres import PostgresServer
from harness.timing import DEADLINE
from inference.pg import reset, sql
from inference.servers import running_server, total
from porto.bundle import Manifest
from porto.schema import FeatureKind
from porto_inference.server import ServerProcess
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.integration

KSERVE = Path(__file__).resolve().parents[2] / "clients" / "kserve"
KSERVE_PYTHON = KSERVE / ".venv" / "bin" / "python"
INFER_ROUTE = "/v2/models/{model_name}/infer"
INFER_VERSION_ROUTE = "/v2/models/{model_name}/versions/{model_version}/infer"
ROWS = 40
KEY = secrets.token_hex(24)


def headers() -> dict[str, str]:
    """The API key header, a new dict each call: tritonclient adds its own headers to the dict
    it is given."""
    return {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def server(
    home: Path, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    reset(postgres_server.dsn)
    with running_server(
        home,
        tmp_path_factory.mktemp("v2-server"),
        database_url=postgres_server.dsn,
        api_key=KEY,
    ) as running:
        yield running
    reset(postgres_server.dsn)


@pytest.fixture(scope="module")
def rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return records[:ROWS]


@pytest.fixture(scope="module")
def expected(server: ServerProcess, rows: list[dict[str, Any]]) -> list[float]:
    """/predict's probability for each row, one request per row."""
    with httpx.Client(base_url=server.url, headers=headers(), timeout=30) as client:
        answers = [client.post("/predict", json=row) for row in rows]
    assert {a.status_code for a in answers} == {200}
    return [a.json()["probability"] for a in answers]


def _datatype(champion: Manifest, name: str) -> str:
    kind = champion.feature_schema.spec(name).kind
    return "INT64" if kind is FeatureKind.CATEGORICAL else "FP64"


def _column(rows: list[dict[str, Any]], name: str, datatype: str) -> np.ndarray:
    return np.array([r[name] for r in rows], dtype=np.int64 if datatype == "INT64" else np.float64)


def _triton_inputs(
    rows: list[dict[str, Any]], champion: Manifest, *, binary: bool
) -> list[triton.InferInput]:
    inputs = []
    for name in champion.feature_schema.names:
        datatype = _datatype(champion, name)
        tensor = triton.InferInput(name, [len(rows)], datatype)
        tensor.set_data_from_numpy(_column(rows, name, datatype), binary_data=binary)
        inputs.append(tensor)
    return inputs


@pytest.fixture
def client(server: ServerProcess) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(server.url.removeprefix("http://")) as c:
        yield c


def test_triton_client_reads_the_metadata(
    client: triton.InferenceServerClient, champion: Manifest
) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("porto")
    assert client.is_model_ready("porto", champion.version)
    assert not client.is_model_ready("other")
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    meta = client.get_model_metadata("porto", "champion")
    assert [i["name"] for i in meta["inputs"]] == champion.feature_schema.names
    assert champion.version in meta["versions"]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_triton_client_gets_predicts_probabilities(
    client: triton.InferenceServerClient,
    rows: list[dict[str, Any]],
    expected: list[float],
    champion: Manifest,
    binary: bool,
) -> None:
    outputs = (
        [triton.InferRequestedOutput(n, binary_data=False) for n in ("probability", "class")]
        if not binary
        else None  # the client then asks for every output in binary
    )
    result = client.infer(
        "porto",
        _triton_inputs(rows, champion, binary=binary),
        outputs=outputs,
        request_id="triton-1",
        headers=headers(),
    )
    assert result.get_response()["id"] == "triton-1"
    probabilities = result.as_numpy("probability")
    assert probabilities.dtype == np.float64
    assert probabilities.tolist() == expected
    assert result.as_numpy("class").tolist() == [int(p >= champion.threshold) for p in expected]
    if binary:
        assert len(set(result.as_numpy("prediction_id").tolist())) == ROWS


def test_triton_client_one_row_a_version_and_a_2d_input(
    client: triton.InferenceServerClient,
    rows: list[dict[str, Any]],
    expected: list[float],
    champion: Manifest,
) -> None:
    one = client.infer("porto", _triton_inputs(rows[:1], champion, binary=True), headers=headers())
    assert one.as_numpy("probability").tolist() == expected[:1]
    names = champion.feature_schema.names
    matrix = np.array([[r[n] for n in names] for r in rows], dtype=np.float64)
    tensor = triton.InferInput("input", list(matrix.shape), "FP64")
    tensor.set_data_from_numpy(matrix)
    result = client.infer("porto", [tensor], model_version=champion.version, headers=headers())
    assert result.as_numpy("probability").tolist() == expected
    assert result.get_response()["model_version"] == champion.version


def test_triton_client_gets_explanations(
    client: triton.InferenceServerClient,
    rows: list[dict[str, Any]],
    expected: list[float],
    champion: Manifest,
) -> None:
    """The explanation outputs through a third-party client: the request's ``explain``
    parameter, binary outputs decoded by tritonclient itself, base + contributions = log-odds."""
    result = client.infer(
        "porto",
        _triton_inputs(rows, champion, binary=True),
        parameters={"explain": True},
        headers=headers(),
    )
    contributions = result.as_numpy("contributions")
    assert contributions.shape == (ROWS, len(champion.feature_schema.names))
    raw = result.as_numpy("base_value") + contributions.sum(axis=1)
    np.testing.assert_allclose(1 / (1 + np.exp(-raw)), expected, atol=1e-9)


def test_triton_client_sees_the_protocols_errors(
    client: triton.InferenceServerClient, rows: list[dict[str, Any]], champion: Manifest
) -> None:
    inputs = _triton_inputs(rows, champion, binary=False)
    with pytest.raises(InferenceServerException, match="missing input"):
        client.infer("porto", inputs[1:], headers=headers())
    with pytest.raises(InferenceServerException, match="unknown model 'other'"):
        client.infer("other", inputs, headers=headers())
    with pytest.raises(InferenceServerException, match="API key"):
        client.infer("porto", inputs)


def _kserve(server: ServerProcess, job: dict[str, Any]) -> dict[str, Any]:
    if not KSERVE_PYTHON.is_file():
        pytest.fail(f"no kserve SDK environment at {KSERVE}: run `make install`", pytrace=False)
    job = {"url": server.url, "model": "porto", "headers": headers(), **job}
    done = subprocess.run(
        [str(KSERVE_PYTHON), str(KSERVE / "kserve_v2.py")],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_kserve_client_gets_predicts_probabilities(
    server: ServerProcess,
    rows: list[dict[str, Any]],
    expected: list[float],
    champion: Manifest,
    binary: bool,
) -> None:
    names = champion.feature_schema.names
    datatypes = {n: _datatype(champion, n) for n in names}
    columns = {n: _column(rows, n, datatypes[n]).tolist() for n in names}
    got = _kserve(server, {"columns": columns, "datatypes": datatypes, "binary": binary})
    assert got["live"] and got["ready"] and got["model_ready"]
    assert got["id"] == "kserve-1"
    assert got["probability"] == expected
    assert got["class"] == [int(p >= champion.threshold) for p in expected]
    assert got["class_dtype"] == "int64"
    assert len(set(got["prediction_id"])) == ROWS


def _v2_rows_logged(dsn: str) -> int:
    query = "SELECT count(*) AS n FROM prediction_log WHERE endpoint = ANY($1::text[])"
    return int(sql(dsn, query, [INFER_ROUTE, INFER_VERSION_ROUTE])[0]["n"])


def test_client_predictions_are_counted_and_logged(
    server: ServerProcess,
    client: triton.InferenceServerClient,
    rows: list[dict[str, Any]],
    champion: Manifest,
    postgres_server: PostgresServer,
) -> None:
    def figures() -> tuple[float, float, float]:
        text = httpx.get(server.url + "/metrics").text
        return (
            total(text, "predictions_total", model_version=champion.version),
            total(text, "inference_requests_total", endpoint=INFER_ROUTE, status="200"),
            total(text, "batch_size_sum", endpoint=INFER_ROUTE),
        )

    deadline = time.monotonic() + DEADLINE
    logged_before = _v2_rows_logged(postgres_server.dsn)
    predictions, requests, sizes = figures()
    result = client.infer("porto", _triton_inputs(rows, champion, binary=True), headers=headers())
    names = champion.feature_schema.names
    datatypes = {n: _datatype(champion, n) for n in names}
    columns = {n: _column(rows[:5], n, datatypes[n]).tolist() for n in names}
    _kserve(server, {"columns": columns, "datatypes": datatypes, "binary": False})
    scored = ROWS + 5
    want = (predictions + scored, requests + 2, sizes + scored)
    # the request counters move when the response has been sent: wait for the last one
    while (now := figures()) != want:
        assert time.monotonic() < deadline, f"metrics {now}, expected {want}"
        time.sleep(0.1)

    ids = [p.decode() for p in result.as_numpy("prediction_id").tolist()]
    while _v2_rows_logged(postgres_server.dsn) < logged_before + scored:
        assert time.monotonic() < deadline, "the V2 predictions never reached the prediction log"
        time.sleep(0.1)
    logged = sql(
        postgres_server.dsn,
        "SELECT prediction_id::text AS id, endpoint, score FROM prediction_log "
        "WHERE prediction_id = ANY($1::uuid[])",
        ids,
    )
    assert {r["endpoint"] for r in logged} == {INFER_ROUTE}
    by_id = {r["id"]: r["score"] for r in logged}
    assert [by_id[i] for i in ids] == result.as_numpy("probability").tolist()
