"""GET /models, /models/{version}, /models/{version}/schema, /schema,
/models/{version}/artifacts/{file}, POST /models/reload, GET /health, /ready, /metrics and /docs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from porto.bundle import Manifest


def test_list_models(client: TestClient, champion: Manifest) -> None:
    body = client.get("/models").json()
    assert body["name"] == "porto"
    assert body["aliases"]["champion"] == champion.version
    assert body["served"]["version"] == champion.version
    assert [v["version"] for v in body["versions"]] == [champion.version]
    assert set(body["versions"][0]["aliases"]) == {"champion", "latest"}
    # The feature count comes with where the features themselves are.
    assert body["versions"][0]["features"] == len(champion.feature_schema.features)
    assert body["versions"][0]["schema_url"] == f"/models/{champion.version}/schema"
    assert client.get(body["versions"][0]["schema_url"]).status_code == 200


def test_schema_lists_features_and_an_example_that_scores(
    client: TestClient, champion: Manifest
) -> None:
    served = client.get("/schema")
    assert served.status_code == 200
    body = served.json()
    assert body == client.get("/models/champion/schema").json()
    assert body == client.get(f"/models/{champion.version}/schema").json()
    assert body["model_version"] == champion.version
    names = [f["name"] for f in body["features"]]
    assert names == champion.feature_schema.names
    assert [f["position"] for f in body["features"]] == list(range(len(names)))
    kinds = {f["name"]: f for f in body["features"]}
    assert kinds["ps_ind_02_cat"]["kind"] == "categorical"
    assert all(isinstance(c, int) for c in kinds["ps_ind_02_cat"]["categories"])
    assert kinds["ps_ind_06_bin"]["kind"] == "binary"
    assert kinds["ps_reg_03"]["min"] is not None and kinds["ps_reg_03"]["max"] is not None
    # The example goes to /predict as it is, named, wrapped and positional.
    example = body["example"]
    assert list(example) == names
    positional = {"features": list(example.values())}
    for request in (example, {"id": 7, "features": example}, positional):
        scored = client.post("/predict", json=request)
        assert scored.status_code == 200, scored.text
        assert scored.json()["model_version"] == champion.version
    assert client.get("/models/20990101-000000-beef/schema").status_code == 404
    # Typed in the OpenAPI document, not a free-form object.
    openapi = client.get("/openapi.json").json()
    answer = openapi["paths"]["/schema"]["get"]["responses"]["200"]["content"]
    assert answer["application/json"]["schema"]["$ref"].endswith("/ModelSchemaResponse")


def test_manifest_by_version_and_alias(client: TestClient, champion: Manifest) -> None:
    by_version = client.get(f"/models/{champion.version}").json()
    by_alias = client.get("/models/champion").json()
    assert by_version == by_alias
    assert by_version["version"] == champion.version
    assert by_version["feature_schema"]["features"][0]["name"] == "ps_ind_01"
    assert "model.cbm" in by_version["files"]
    assert client.get("/models/20990101-000000-beef").status_code == 404
    assert client.get("/models/bad..name").status_code == 404


def test_artifacts(client: TestClient, champion: Manifest) -> None:
    png = client.get(f"/models/{champion.version}/artifacts/plots/roc.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert "immutable" in png.headers["cache-control"]
    assert png.headers["etag"].strip('"') == champion.files["plots/roc.png"].sha256
    again = client.get(
        f"/models/{champion.version}/artifacts/plots/roc.png",
        headers={"If-None-Match": png.headers["etag"]},
    )
    assert again.status_code == 304
    ref = client.get("/models/champion/artifacts/reference.json")
    assert ref.status_code == 200
    assert ref.headers["cache-control"] == "no-cache"
    assert "features" in ref.json()
    # The model file and files outside the manifest are not served.
    assert client.get("/models/champion/artifacts/model.cbm").status_code == 404
    assert client.get("/models/champion/artifacts/manifest.json").status_code == 404
    assert client.get("/models/champion/artifacts/../../secrets.json").status_code == 404


def test_artifact_checksum_is_verified(
    make_client: Callable[..., TestClient], tmp_path: Path, trained: object
) -> None:
    from inference.bundles import publish
    from porto.store import open_store

    store = open_store(str(tmp_path / "artifacts"))
    manifest = publish(store, trained, promote=True)  # type: ignore[arg-type]
    (tmp_path / "artifacts" / "models" / "porto" / manifest.version / "metrics.json").write_text(
        '{"roc_auc": 0.99}'
    )
    c = make_client(home=tmp_path)
    r = c.get(f"/models/{manifest.version}/artifacts/metrics.json")
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "integrity_error"


def test_health_ready_metrics_docs(client: TestClient, champion: Manifest) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["model"]["version"] == champion.version
    assert body["database"]["state"] == "disabled"
    docs = client.get("/docs")
    assert docs.status_code == 200
    openapi = client.get("/openapi.json").json()
    example = openapi["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    named = example["examples"]["named"]["value"]
    assert set(named) == set(champion.feature_schema.names)  # examples fit the served model
    metrics = client.get("/metrics").text
    assert 'page_views_total{page="/docs"} 1.0' in metrics
    info = 'model_info{alias="champion",model_type="catboost",name="porto",version="%s"} 1.0'
    assert info % champion.version in metrics
    assert 'model_training_metric{metric="test_roc_auc"' in metrics


def test_not_ready_without_a_model(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    c = make_client(home=tmp_path)
    ready = c.get("/ready")
    assert ready.status_code == 503
    assert "train one first" in ready.json()["model_error"]["error"]
    r = c.post("/predict", json={"a": 1})
    assert r.status_code == 503
    assert c.get("/schema").status_code == 503
    assert r.json()["error"]["type"] == "model_not_ready"
    assert c.get("/health").status_code == 200


def test_reload(client: TestClient, champion: Manifest) -> None:
    r = client.post("/models/reload")
    assert r.status_code == 200
    assert r.json()["served"]["version"] == champion.version
    assert r.json()["changed"] is False
