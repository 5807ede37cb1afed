"""The training page's "Export report" buttons against the real API (gunicorn, PostgreSQL, bundles
from the training pipeline, logged traffic and feedback): both buttons for the selected version,
and what they download — the API's report of that version, HTML and JSON — or, with the API
down, a file of the same format that says why."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from porto.bundle import Manifest
from porto.contracts.report import VersionReport
from porto_ui.client import ApiClient
from porto_ui.report_export import fetch_report, report_filename

from ui.conftest import Stack
from ui.test_pages import open_page

pytestmark = pytest.mark.integration


def test_training_page_offers_both_exports(stack: Stack, ui_env: Callable[..., None]) -> None:
    ui_env(stack.api_url)
    at = open_page("training")
    assert [d.label for d in at.download_button] == ["HTML report", "JSON report"]
    assert at.number_input(key="training-report-days").value == 7
    at.selectbox(key="training-version").set_value(stack.challenger).run()
    assert not at.exception
    assert len(at.download_button) == 2


def test_exports_download_the_versions_report(stack: Stack, dead_url: str) -> None:
    manifest = Manifest.model_validate(httpx.get(f"{stack.api_url}/models/{stack.champion}").json())
    assert report_filename(manifest, "html") == f"porto-porto-{stack.champion}-report.html"
    client = ApiClient(stack.api_url, read_timeout_s=30, batch_timeout_s=60)
    try:
        page = fetch_report(client, stack.champion, "html", 7).decode()
        assert page.startswith("<!DOCTYPE html>") and stack.champion in page
        assert "Realized quality" in page and "data:image/png;base64," in page
        report = VersionReport.model_validate_json(fetch_report(client, stack.champion, "json", 7))
        assert report.model_version == stack.champion
        # the session's traffic and feedback are in the log sections
        assert report.data_quality.available and report.data_quality.served >= 320
        assert report.quality.overall is not None and report.quality.overall.labelled > 0
        assert report.drift.available and report.drift.features
    finally:
        client.close()
    down = ApiClient(dead_url, connect_timeout_s=0.5)
    try:
        said = json.loads(fetch_report(down, stack.champion, "json", 7))
        assert "not reachable" in said["error"]
        assert b"not reachable" in fetch_report(down, stack.champion, "html", 7)
    finally:
        down.close()
