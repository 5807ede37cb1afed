"""The API client: every failure becomes one of two errors a page can show as it is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from harness.ports import free_port
from porto.bundle import DatasetInfo, Manifest
from porto.contracts.api import BatchResponse, PredictResponse
from porto.contracts.monitoring import DriftReport
from porto.contracts.serving import PromoteResponse
from porto.schema import FeatureSchema
from porto_ui.client import ApiClient, ApiContractError, ApiRejectedError, ApiUnavailableError
from porto_ui.metrics import API_REQUESTS

#: Answers as the API gives them, one per route the tests call.
PREDICTION = {
    "prediction_id": "0192f3c4-6a5e-7c1d-8e2f-3a4b5c6d7e8f",
    "probability": 0.1,
    "class": 0,
    "threshold": 0.2,
    "model_name": "porto",
    "model_version": "v1",
}
BATCH = {
    "model_name": "porto",
    "model_version": "v1",
    "threshold": 0.2,
    "count": 1,
    "predictions": [{"row": 0, "prediction_id": "p", "probability": 0.1, "class": 0}],
}
PROMOTION = {
    "name": "porto",
    "version": "v2",
    "alias": "champion",
    "previous": "v1",
    "changed": True,
    "served": None,
    "propagation_s": 10,
}
DRIFT = {"model_version": "v1", "rows": 0, "available": True, "features": [], "score": None}
MANIFEST = Manifest(
    name="porto",
    version="v1",
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    code_version="test",
    model_type="catboost",
    model_file="model.cbm",
    threshold=0.2,
    feature_schema=FeatureSchema(features=[]),
    dataset=DatasetInfo(source="test", fingerprint="0" * 64, rows=1, columns=1, positives=0),
).model_dump(mode="json")


def _answer(request: httpx.Request) -> httpx.Response:
    """The API's answer to each route the client calls."""
    path = request.url.path
    if path == "/predict":
        return httpx.Response(200, json=PREDICTION)
    if path == "/predict/batch":
        return httpx.Response(200, json=BATCH)
    if path.endswith("/promote"):
        return httpx.Response(200, json=PROMOTION)
    if path.startswith("/monitoring/drift"):
        return httpx.Response(200, json=DRIFT)
    return httpx.Response(200, json=MANIFEST)


def _client(handler: Callable[[httpx.Request], httpx.Response], **kwargs: object) -> ApiClient:
    client = ApiClient("http://api.test", **kwargs)  # type: ignore[arg-type]
    client._http = httpx.Client(
        base_url="http://api.test",
        transport=httpx.MockTransport(handler),
        headers=client._http.headers,
    )
    return client


def test_the_api_key_and_version_parameter_are_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _answer(request)

    answer = _client(handler, api_key="k3y").predict({"a": 1}, "v1")
    assert answer == PredictResponse.model_validate(PREDICTION)
    _client(handler).predict({"a": 1}, None)
    assert seen[0].headers["x-api-key"] == "k3y"
    assert seen[0].url.params["model_version"] == "v1"
    assert "x-api-key" not in seen[1].headers
    assert "model_version" not in seen[1].url.params


def test_error_bodies_become_rejections_with_details() -> None:
    body = {
        "error": {
            "type": "validation_error",
            "message": "2 problems",
            "details": [{"row": 3, "field": "ps_ind_01", "message": "expected a number"}],
        }
    }
    client = _client(lambda r: httpx.Response(422, json=body))
    with pytest.raises(ApiRejectedError) as caught:
        client.predict_csv(b"a\n1\n", None)
    error = caught.value
    assert (error.status, error.kind, error.message) == (422, "validation_error", "2 problems")
    assert error.details[0].row == 3 and error.details[0].field == "ps_ind_01"
    assert API_REQUESTS.labels("/predict/batch", "422")._value.get() >= 1


def test_a_proxy_error_page_means_unavailable() -> None:
    client = _client(lambda r: httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(ApiUnavailableError, match="HTTP 502"):
        client.models()
    client = _client(lambda r: httpx.Response(200, text="<html>a login page</html>"))
    with pytest.raises(ApiUnavailableError, match="not JSON"):
        client.models()


def test_nothing_listening_and_timeouts_are_unavailable() -> None:
    down = ApiClient(f"http://127.0.0.1:{free_port()}", connect_timeout_s=0.5)
    with pytest.raises(ApiUnavailableError, match="not reachable"):
        down.ready()

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ApiUnavailableError, match="did not answer in time"):
        _client(slow).models()


def test_ready_answers_both_ready_and_not_ready() -> None:
    client = _client(lambda r: httpx.Response(503, json={"status": "not_ready"}))
    assert client.ready().status == "not_ready"


def test_an_answer_of_another_shape_is_said_plainly() -> None:
    """An API of another porto version: the field and the likely cause, not a traceback."""
    client = _client(lambda r: httpx.Response(200, json={"name": "porto", "versions": "none"}))
    with pytest.raises(ApiContractError, match=r"cannot read \(store: .*same porto version"):
        client.models()


def test_versions_are_path_encoded() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return _answer(request)

    assert _client(handler).manifest("../../etc") == Manifest.model_validate(MANIFEST)
    assert paths == ["/models/..%2F..%2Fetc"]


#: The key the chart generates (48 alphanumerics) and the UI reads from PORTO_UI_API_KEY.
CHART_KEY = "q3ZP9xv0T1m8cKf2LwYb7NsRj4HdGa6Eu5Xc0Vn8Mk2Ap7Qz"


def test_every_keyed_call_sends_the_key() -> None:
    """Predictions, batches, promotion and the monitoring reads are behind the API's key in
    production: the UI sends it (X-API-Key) on each of them."""
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[f"{request.method} {request.url.path}"] = request.headers.get("x-api-key")
        return _answer(request)

    client = _client(handler, api_key=CHART_KEY)
    client.predict({"a": 1}, None)
    assert client.predict_csv(b"a\n1\n", None) == BatchResponse.model_validate(BATCH)
    assert client.promote("v2") == PromoteResponse.model_validate(PROMOTION)
    assert client.drift(minutes=60, limit=10, model_version=None) == DriftReport.model_validate(
        DRIFT
    )
    assert seen == {
        "POST /predict": CHART_KEY,
        "POST /predict/batch": CHART_KEY,
        "POST /models/v2/promote": CHART_KEY,
        "GET /monitoring/drift": CHART_KEY,
    }


def test_the_client_of_the_settings_sends_the_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the chart wires: PORTO_UI_API_KEY from the key's Secret becomes the header of the
    process's client (and never shows in the settings' repr)."""
    from porto_ui.client import get_client
    from porto_ui.settings import load_settings

    monkeypatch.setenv("PORTO_UI_ENVIRONMENT", "production")
    monkeypatch.setenv("PORTO_UI_API_URL", "http://porto-inference:8000")
    monkeypatch.setenv("PORTO_UI_API_KEY", CHART_KEY)
    settings = load_settings()
    assert CHART_KEY not in repr(settings)
    client = get_client(settings)
    assert client.base_url == "http://porto-inference:8000"
    assert client._http.headers["x-api-key"] == CHART_KEY
    monkeypatch.delenv("PORTO_UI_API_KEY")
    assert "x-api-key" not in get_client(load_settings())._http.headers


def test_a_refused_key_is_a_rejection_the_page_can_show() -> None:
    body = {"error": {"type": "unauthorized", "message": "missing or wrong API key"}}
    client = _client(lambda r: httpx.Response(401, json=body), api_key="wrong")
    with pytest.raises(ApiRejectedError) as caught:
        client.promote("v2")
    assert (caught.value.status, caught.value.kind) == (401, "unauthorized")
