"""/docs and /redoc in a real browser (headless Chromium, ``harness/browser.py``) against the real
server: both render the API's operations, and neither loads anything from outside the machine
(no CDN: the pages work on an air-gapped cluster)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.browser import RequestLog, chromium_page
from inference.servers import running_server
from porto_inference.server import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(
        home, tmp_path_factory.mktemp("docs-logs"), workers=1, prediction_log=False
    ) as server:
        yield server


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium_page(tmp_path_factory.mktemp("chromium-profile")) as page:
        yield page


def test_swagger_ui_renders_from_the_api_alone(server: ServerProcess, page: Any) -> None:
    requests = RequestLog().attach(page)
    try:
        page.goto(f"{server.url}/docs")
        # Swagger UI drew the operations of the OpenAPI document.
        page.locator(".opblock").first.wait_for()
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert "/predict" in paths and "/schema" in paths, paths
        page.wait_for_load_state("networkidle")
    finally:
        requests.detach()
    assert any(u.endswith("/docs/static/swagger-ui-bundle.js") for u in requests.urls)
    assert requests.external() == [], requests.external()


def test_redoc_renders_from_the_api_alone(server: ServerProcess, page: Any) -> None:
    requests = RequestLog().attach(page)
    try:
        page.goto(f"{server.url}/redoc")
        # ReDoc drew the operations (a section heading each).
        page.locator("h2", has_text="Features of the served model").first.wait_for()
        page.wait_for_load_state("networkidle")
    finally:
        requests.detach()
    assert any(u.endswith("/docs/static/redoc.standalone.js") for u in requests.urls)
    assert requests.external() == [], requests.external()
    # ReDoc's vendor logo: stopped by the page's Content-Security-Policy, never sent.
    assert all(u.startswith("https://cdn.redoc.ly/") for u in requests.blocked), requests.blocked
