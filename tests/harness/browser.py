"""A real browser for the tests: Debian's headless Chromium driven by Playwright.

Chromium is the system package (``apt-get install chromium``; never a downloaded browser), run
with a fresh profile and the flags a locked-down CI needs. :class:`RequestLog` records every
request the page makes, so a test can assert a page loads nothing from outside the machine (the
docs and UI must work on an air-gapped cluster).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.timing import DEADLINE_MS

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Small screenshots: one viewport, not the whole page.
VIEWPORT = {"width": 1280, "height": 860}
TIMEOUT_MS = DEADLINE_MS
#: Hosts a page may load from: this machine.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@contextmanager
def chromium_page(profile: Path) -> Iterator[Any]:
    """A Playwright page in headless Chromium with the profile directory ``profile``."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is needed: apt-get install chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport=VIEWPORT,  # type: ignore[arg-type]
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        try:
            yield page
        finally:
            context.close()


@dataclass
class RequestLog:
    """Every URL a page requested while attached (``data:`` and ``blob:`` URLs stay local),
    and those the page's Content-Security-Policy stopped before they left the browser."""

    urls: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    _page: Any = None

    def attach(self, page: Any) -> RequestLog:
        """Record ``page``'s requests from now on (including failed and blocked ones)."""
        self._page = page
        page.on("request", self._record)
        page.on("requestfailed", self._failed)
        return self

    def detach(self) -> None:
        """Stop recording."""
        self._page.remove_listener("request", self._record)
        self._page.remove_listener("requestfailed", self._failed)

    def _record(self, request: Any) -> None:
        self.urls.append(request.url)

    def _failed(self, request: Any) -> None:
        # Chromium's reason for a request its CSP refused; any other failure (DNS, refused
        # connection) means the request did try to leave.
        if request.failure == "csp":
            self.blocked.append(request.url)

    def external(self) -> list[str]:
        """The URLs the page tried to fetch from a host that is not this machine (requests the
        CSP stopped in the browser excluded)."""
        out = []
        for url in self.urls:
            if url in self.blocked:
                continue
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about", "chrome", "chrome-extension"):
                continue
            if parts.hostname not in LOCAL_HOSTS:
                out.append(url)
        return out
