"""The running UI (``porto-ui``'s Streamlit process) in a real browser: Debian's headless
Chromium driven by Playwright. Each page opens without a Streamlit error element, a single
prediction and a CSV upload produce results, a bad CSV is reported, and every page view is
counted on the UI's metrics port; every page answers at its own URL and nothing is loaded from
outside the machine. Screenshots land in ``test-artifacts/ui/``.

Chromium is the system package (``apt-get install chromium``; see ``harness/browser.py``).
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from harness.browser import TIMEOUT_MS, RequestLog, chromium_page
from harness.ports import free_port
from harness.process import await_child
from porto_ui.server import UIProcess, start_ui
from porto_ui.settings import load_settings

from ui.conftest import ARTIFACTS, Stack

pytestmark = pytest.mark.integration

ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


@pytest.fixture(scope="module")
def ui(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UIProcess, int]]:
    """``streamlit run`` of the packaged app on free ports, pointed at the session's API."""
    metrics_port = free_port()
    settings = load_settings(
        host="127.0.0.1",
        port=free_port(),
        api_url=stack.api_url,
        metrics_port=metrics_port,
        monitor_refresh_s=5,
        batch_chunk_rows=25,
    )
    log = tmp_path_factory.mktemp("ui-logs") / "ui.log"
    process = start_ui(settings, log_file=log)
    try:
        await_child(process, log)
        yield process, metrics_port
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Chromium page with a fresh profile (``--user-data-dir`` of its own)."""
    with chromium_page(tmp_path_factory.mktemp("chromium-profile")) as page:
        yield page


def settle(page: Any) -> None:
    """Wait until Streamlit has finished running the script (its status widget is gone)."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS
    )


def no_errors(page: Any, where: str) -> None:
    """Fail on any Streamlit exception element or error alert."""
    errors = page.locator(ERRORS)
    if errors.count():
        texts = [errors.nth(i).inner_text()[:300] for i in range(errors.count())]
        shot(page, f"FAILED-{where}")
        pytest.fail(f"{where}: Streamlit error element(s): {texts}")


def shot(page: Any, name: str) -> Path:
    """A viewport screenshot in test-artifacts/ui/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def open_page(page: Any, base: str, slug: str, heading: str) -> None:
    page.goto(f"{base}/{slug}")
    page.get_by_role("heading", name=heading, exact=True).wait_for()
    settle(page)
    no_errors(page, slug or "inference")


def test_every_page_in_a_real_browser(
    ui: tuple[UIProcess, int], browser: Any, stack: Stack, tmp_path: Path
) -> None:
    process, metrics_port = ui
    page = browser
    base = process.url
    # The metrics endpoint is up before anyone opens a page (Prometheus scrapes from the start).
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
        assert "porto_ui_up 1.0" in resp.read().decode()

    # Inference: the form, a single prediction.
    open_page(page, base, "", "Inference")
    assert page.get_by_text("API ready").is_visible()
    shot(page, "1-inference")
    page.get_by_role("button", name="Predict").click()
    result = page.get_by_text("Probability of a claim")
    result.wait_for()
    settle(page)
    no_errors(page, "single prediction")
    value = page.locator('[data-testid="stMetricValue"]').first.inner_text()
    assert 0.0 <= float(value) <= 1.0
    page.get_by_text("send it to /feedback").scroll_into_view_if_needed()
    shot(page, "2-inference-single")

    # Batch: a CSV upload, scored in chunks.
    page.get_by_role("tab", name="Batch (CSV)").click()
    good = tmp_path / "clients.csv"
    pd.DataFrame(stack.records[:60]).to_csv(good, index=False)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(good))
    score = page.get_by_role("button", name="Score 60 rows")
    score.wait_for()
    score.click()
    page.get_by_text("Rows scored").wait_for()
    settle(page)
    no_errors(page, "batch upload")
    page.get_by_role("button", name="Download predictions (CSV)").scroll_into_view_if_needed()
    shot(page, "3-inference-batch")

    # A bad CSV: the problems by row and column, nothing sent.
    bad = tmp_path / "bad.csv"
    frame = pd.DataFrame(stack.records[:5]).astype(object)
    frame.loc[2, "ps_reg_01"] = "lots"
    frame.drop(columns=["ps_car_13"]).to_csv(bad, index=False)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    alert = page.locator('[data-testid="stAlertContentError"]')
    alert.wait_for()
    settle(page)
    message = alert.inner_text()
    assert "bad.csv was not sent: 2 problem(s) found" in message
    assert "ps_car_13: missing column" in message
    assert "row 3, ps_reg_01: expected a number, got 'lots'" in message
    assert page.locator('[data-testid="stException"]').count() == 0
    alert.scroll_into_view_if_needed()
    shot(page, "4-inference-bad-csv")

    open_page(page, base, "training", "Training")
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
    assert page.get_by_text("ROC-AUC").is_visible()
    shot(page, "5-training")

    open_page(page, base, "comparison", "Model comparison")
    page.get_by_text("ROC curves").wait_for()
    page.get_by_text("ROC curves").scroll_into_view_if_needed()
    shot(page, "6-comparison")

    open_page(page, base, "monitoring", "Monitoring")
    page.get_by_text("Drift against the training reference").wait_for()
    shot(page, "7-monitoring")
    page.get_by_text("Drift against the training reference").scroll_into_view_if_needed()
    shot(page, "8-monitoring-drift")
    no_errors(page, "monitoring")

    # Every page view was counted on the UI's own metrics port.
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    views = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^page_views_total\{page="([^"]+)"\} (\S+)$', text, re.M)
    }
    for slug in ("inference", "training", "comparison", "monitoring"):
        assert views.get(slug, 0) >= 1, (slug, views)
    assert re.search(r'porto_ui_api_requests_total\{endpoint="/predict",outcome="ok"\} [1-9]', text)


def test_export_report_downloads_in_a_real_browser(
    ui: tuple[UIProcess, int], browser: Any, stack: Stack, tmp_path: Path
) -> None:
    """The Training page's "Export report" buttons: a click downloads the selected version's
    report from the API under its file name (HTML, then JSON)."""
    process, _ = ui
    page = browser
    open_page(page, process.url, "training", "Training")
    for label, suffix, start in (("HTML", "html", "<!DOCTYPE html>"), ("JSON", "json", "{")):
        button = page.get_by_role("button", name=f"{label} report")
        button.scroll_into_view_if_needed()
        settle(page)
        with page.expect_download(timeout=TIMEOUT_MS) as info:
            button.click()
        download = info.value
        assert download.suggested_filename == f"porto-porto-{stack.champion}-report.{suffix}"
        saved = tmp_path / download.suggested_filename
        download.save_as(str(saved))
        text = saved.read_text()
        assert text.startswith(start) and stack.champion in text
        assert "Realized quality" in text or '"quality"' in text
    no_errors(page, "export report")
    shot(page, "5b-training-export")


def test_every_page_at_its_own_url_with_nothing_from_outside(
    ui: tuple[UIProcess, int], browser: Any
) -> None:
    """A link to /inference (or any page) opens that page, not "Page not found" over the
    default one; the root opens Inference at /inference; the app (icon included) loads only
    from the UI itself, as on an air-gapped cluster."""
    process, _ = ui
    page = browser
    base = process.url
    requests = RequestLog().attach(page)
    try:
        for slug, heading in [
            ("inference", "Inference"),
            ("training", "Training"),
            ("comparison", "Model comparison"),
            ("monitoring", "Monitoring"),
        ]:
            open_page(page, base, slug, heading)
            assert page.get_by_text("Page not found").count() == 0, slug
            assert page.url == f"{base}/{slug}"
        page.goto(f"{base}/")
        page.get_by_role("heading", name="Inference", exact=True).wait_for()
        settle(page)
        assert page.url == f"{base}/inference"
        assert page.get_by_text("Page not found").count() == 0
        icon = page.locator('link[rel="shortcut icon"], link[rel="icon"]').first
        href = icon.get_attribute("href") or ""
        assert href.startswith(("/", base)) and "media" in href, href
    finally:
        requests.detach()
    assert requests.urls, "no request was recorded"
    assert requests.external() == [], requests.external()
