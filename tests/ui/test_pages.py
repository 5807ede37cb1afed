"""Every page through Streamlit's AppTest against the real API (gunicorn, PostgreSQL, real
bundles): no exception anywhere, the widgets each page promises, a single prediction and a batch
upload scored by the API, bad CSVs reported by row and column, the API down said plainly (and
recovered from), promotion honouring the API key."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from harness.timing import DEADLINE
from inference.servers import running_server
from streamlit.testing.v1 import AppTest

from ui.conftest import APP, Stack

pytestmark = pytest.mark.integration

PAGES = ["inference", "training", "comparison", "monitoring"]
TIMEOUT = DEADLINE


def open_page(page: str) -> AppTest:
    """The app, run once, then switched to ``page`` and run again."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    if page != "inference":
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Every alert, caption and markdown text of the page, for substring checks."""
    parts: list[str] = []
    for kind in ("error", "warning", "info", "success", "caption", "markdown", "title"):
        parts.extend(str(e.value) for e in getattr(at, kind))
    return "\n".join(parts)


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label → shown value."""
    return {m.label: m.value for m in at.metric}


@pytest.fixture
def live(stack: Stack, ui_env: Callable[..., None]) -> Stack:
    """The UI configured for the session's API."""
    ui_env(stack.api_url)
    return stack


def test_every_page_renders_with_its_widgets(live: Stack) -> None:
    manifest = httpx.get(f"{live.api_url}/models/{live.champion}").json()
    kinds = pd.Series([f["kind"] for f in manifest["feature_schema"]["features"]]).value_counts()

    at = open_page("inference")
    assert at.title[0].value == "Inference"
    assert at.selectbox(key="inference-version").value == live.champion
    assert len(at.number_input) == kinds["numeric"]
    assert len(at.toggle) == kinds["binary"]
    # the version picker plus one select box per categorical feature
    assert len(at.selectbox) == 1 + kinds["categorical"]
    assert [t.label for t in at.tabs] == ["Single prediction", "Batch (CSV)"]
    assert [b.label for b in at.button][:2] == ["Typical record", "Random example"]
    assert len(at.file_uploader) == 1
    assert "API ready" in "\n".join(m.value for m in at.sidebar.markdown)

    at = open_page("training")
    shown = metrics(at)
    assert list(shown) == ["ROC-AUC", "Gini", "PR-AUC", "F1 @ threshold", "Log-loss"]
    roc_auc = manifest["metrics"]["roc_auc"]
    assert shown["ROC-AUC"] == f"{roc_auc:.4f}"
    tabs = [t.label for t in at.tabs]
    for title in (
        "ROC",
        "Precision-recall",
        "Confusion matrix",
        "Feature importance",
        "Mean |SHAP|",
        "Calibration",
        "Score distribution",
        "Learning curve",
    ):
        assert title in tabs
    assert len(at.get("vega_lite_chart")) == len(tabs)
    assert at.expander[0].label == "Training config"
    # The baseline has no learning curve: said, not failed.
    at.selectbox(key="training-version").set_value(live.challenger).run()
    assert not at.exception
    assert "Learning curve" not in [t.label for t in at.tabs]
    assert "not in this bundle: Learning curve" in texts(at)
    assert "vs champion" in (at.metric[0].delta or "")

    at = open_page("comparison")
    assert [m.label for m in at.multiselect] == ["Metrics", "Attributes", "Versions in the charts"]
    table = at.dataframe[0].value
    assert list(table["version"]) == [live.champion, live.challenger]  # newest first
    assert list(table["champion"]) == ["★", ""]
    assert {"roc_auc", "gini_normalized", "pr_auc", "f1", "log_loss"} <= set(table.columns)
    # The user picks the columns: drop all but one metric, add an attribute.
    at.multiselect[0].set_value(["pr_auc"]).run()
    at.multiselect[1].set_value(["model type", "training rows"]).run()
    table = at.dataframe[0].value
    assert list(table.columns) == ["champion", "version", "model type", "training rows", "pr_auc"]
    assert list(table["model type"]) == ["catboost", "sklearn"]
    assert len(at.get("vega_lite_chart")) == 2  # overlaid ROC curves, AUC/Gini bars
    assert at.selectbox(key="promote-target").value == live.challenger

    at = open_page("monitoring")
    shown = metrics(at)
    assert int(shown["Predictions"].replace(",", "")) >= 320
    assert shown["Live F1 (served)"] != "—"
    subheaders = [s.value for s in at.subheader]
    assert subheaders == [
        "Predictions per minute",
        "Score distribution over time",
        "Drift against the training reference",
        "Live quality from feedback",
        "Champion vs challenger",
        "Latest predictions",
    ]
    assert len(at.get("vega_lite_chart")) >= 11
    # The challenger scored the batch in shadow; its labels are the champion's.
    assert f"**{live.challenger}**: " in texts(at)
    compared = at.dataframe[-2].value
    assert list(compared["samples"]) == [300, 300]
    assert compared["model"].iloc[1] == f"challenger ({live.challenger})"
    latest = at.dataframe[-1].value
    assert len(latest) == 50
    assert set(latest["model_version"]) == {live.champion}
    assert not at.error


def test_single_prediction(live: Stack) -> None:
    at = open_page("inference")
    at.form_submit_button[0].click().run()
    assert not at.exception
    shown = metrics(at)
    assert f"porto/{live.champion}" in texts(at)
    # The same record straight to the API gives the same probability.
    record: dict[str, Any] = {}
    for widget in [*at.number_input, *at.toggle, *at.selectbox[1:]]:
        value = widget.value
        record[widget.label] = int(value) if isinstance(value, bool) else value
    direct = httpx.post(f"{live.api_url}/predict", json=record).json()
    assert shown["Probability of a claim"] == f"{direct['probability']:.4f}"
    assert shown["Threshold"] == f"{direct['threshold']:.4f}"
    assert shown["Class"].startswith(str(direct["class"]))
    # Why this score: the explanation's waterfall, and the sum it shows is the API's.
    explained = httpx.post(f"{live.api_url}/predict?explain=true", json=record).json()
    explanation = explained["explanation"]
    page = texts(at)
    assert "Why this score" in page
    assert f"raw score {explanation['raw_score']:+.4f}" in page
    assert len(at.get("vega_lite_chart")) >= 1

    # A random example changes the inputs, stays within the seen ranges, and scores.
    before = [n.value for n in at.number_input]
    at.button[1].click().run()
    after = [n.value for n in at.number_input]
    assert before != after
    for widget in at.number_input:
        value, low, high = widget.value, widget.min, widget.max
        assert value is not None and low is not None and high is not None
        assert low <= value <= high
    at.form_submit_button[0].click().run()
    assert not at.exception
    assert not at.error
    assert "Probability of a claim" in metrics(at)


def _csv(stack: Stack, rows: int, start: int = 0) -> bytes:
    frame = pd.DataFrame(stack.records[start : start + rows])
    return frame.to_csv(index=False).encode()


def test_batch_upload_is_scored_in_chunks(live: Stack, ui_env: Callable[..., None]) -> None:
    ui_env(live.api_url, batch_chunk_rows=40)
    at = open_page("inference")
    at.file_uploader[0].upload("clients.csv", _csv(live, 100), "text/csv").run()
    assert not at.exception
    assert "clients.csv`: 100 rows, every column and value valid" in texts(at)
    score = next(b for b in at.button if b.label == "Score 100 rows")
    score.click().run()
    assert not at.exception
    assert not at.error
    shown = metrics(at)
    assert shown["Rows scored"] == "100"
    result = at.dataframe[-1].value
    assert list(result.columns) == ["row", "id", "probability", "class", "prediction_id"]
    assert list(result["row"]) == list(range(1, 101))
    assert [str(i) for i in result["id"]] == [str(r["id"]) for r in live.records[:100]]
    direct = httpx.post(f"{live.api_url}/predict/batch", json=live.records[:100]).json()
    assert list(result["probability"]) == pytest.approx(
        [p["probability"] for p in direct["predictions"]]
    )
    assert len(at.get("vega_lite_chart")) == 1  # the score histogram
    downloads = [d.label for d in at.download_button]
    assert "Download predictions (CSV)" in downloads


def test_bad_csv_files_are_reported_by_row_and_column(live: Stack) -> None:
    at = open_page("inference")
    uploader = at.file_uploader[0]
    frame = pd.DataFrame(live.records[:5])
    numeric, binary = "ps_reg_01", "ps_ind_06_bin"
    frame[numeric] = frame[numeric].astype(object)
    frame.loc[1, numeric] = "abc"
    frame[binary] = frame[binary].astype(object)
    frame.loc[3, binary] = 7
    uploader.upload("bad-values.csv", frame.to_csv(index=False).encode(), "text/csv").run()
    assert not at.exception
    assert "`bad-values.csv` was not sent: 2 problem(s) found" in at.error[0].value
    problems = at.dataframe[0].value
    rows = {(str(r["row"]), r["column"]) for _, r in problems.iterrows()}
    assert rows == {("2", numeric), ("4", binary)}
    assert "expected a number, got 'abc'" in " ".join(problems["problem"])
    assert not any(b.label.startswith("Score") for b in at.button)

    columns = pd.DataFrame(live.records[:3]).drop(columns=["ps_car_13"])
    columns["colour"] = "red"
    at = open_page("inference")
    at.file_uploader[0].upload(
        "bad-columns.csv", columns.to_csv(index=False).encode(), "text/csv"
    ).run()
    assert not at.exception
    problems = at.dataframe[0].value
    found = {(r["column"], r["problem"].split(":")[0]) for _, r in problems.iterrows()}
    assert found == {("colour", "unknown column"), ("ps_car_13", "missing column")}

    at = open_page("inference")
    at.file_uploader[0].upload("empty.csv", b"", "text/csv").run()
    assert not at.exception
    assert "the file is empty" in at.dataframe[0].value["problem"].iloc[0]


def test_api_down_is_said_plainly_and_recovers(
    live: Stack, ui_env: Callable[..., None], dead_url: str
) -> None:
    ui_env(dead_url)
    for page in PAGES:
        at = open_page(page)
        assert at.error, page
        message = at.error[0].value
        assert "The porto API is not available" in message
        assert dead_url in message
        assert "Traceback" not in texts(at)
        assert any(b.label == "Retry now" for b in at.button)
    # The API "comes back" (the URL now points at a running one): the next run is normal.
    ui_env(live.api_url)
    at.run()
    assert not at.exception
    assert not at.error
    assert at.title[0].value == "Monitoring"


@pytest.fixture
def keyed_api(stack: Stack, tmp_path: Path) -> Iterator[str]:
    """A second API with an API key, over a copy of the store (promotion changes aliases)."""
    home = tmp_path / "home"
    shutil.copytree(stack.home / "artifacts", home / "artifacts")
    with running_server(
        home, tmp_path, workers=1, api_key="ui-test-key", prediction_log="false"
    ) as server:
        yield server.url


def test_promotion_honours_the_api_key(
    stack: Stack, keyed_api: str, ui_env: Callable[..., None]
) -> None:
    ui_env(keyed_api)  # no key
    at = open_page("comparison")
    at.selectbox(key="promote-target").set_value(stack.challenger).run()
    next(b for b in at.button if b.label.startswith("Promote")).click().run()
    assert f"Make **{stack.challenger}** the champion?" in at.warning[0].value
    at.button(key="promote-confirm").click().run()
    assert not at.exception
    assert "needs an API key" in at.error[0].value
    assert httpx.get(f"{keyed_api}/models").json()["aliases"]["champion"] == stack.champion

    ui_env(keyed_api, api_key="ui-test-key")
    at = open_page("comparison")
    at.selectbox(key="promote-target").set_value(stack.challenger).run()
    next(b for b in at.button if b.label.startswith("Promote")).click().run()
    at.button(key="promote-cancel").click().run()  # cancelling sends nothing
    assert httpx.get(f"{keyed_api}/models").json()["aliases"]["champion"] == stack.champion
    next(b for b in at.button if b.label.startswith("Promote")).click().run()
    at.button(key="promote-confirm").click().run()
    assert not at.exception
    assert not at.error
    assert f"**{stack.challenger}** is the champion" in at.success[0].value
    assert httpx.get(f"{keyed_api}/models").json()["aliases"]["champion"] == stack.challenger
    table = at.dataframe[0].value
    assert list(table["champion"]) == ["", "★"]  # the table was re-read
    # The monitoring endpoints need the key too; the UI sends it.
    at = open_page("monitoring")
    assert "the prediction log is off" in texts(at)
