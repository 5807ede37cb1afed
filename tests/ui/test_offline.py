"""The app with no usable API at all: nothing here needs a server."""

from __future__ import annotations

import socket
from collections.abc import Callable

from harness.timing import DEADLINE
from streamlit.testing.v1 import AppTest

from ui.conftest import APP

TIMEOUT = DEADLINE


def test_a_slow_api_is_said_plainly(ui_env: Callable[..., None]) -> None:
    """An API that accepts connections but never answers: the read timeout, not a hang."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # the kernel completes handshakes; nobody ever answers
        port = listener.getsockname()[1]
        ui_env(f"http://127.0.0.1:{port}", read_timeout_s=0.5)
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
        assert not at.exception
        assert "did not answer in time" in at.error[0].value


def test_a_misconfigured_ui_says_which_variable(ui_env: Callable[..., None]) -> None:
    ui_env("http://127.0.0.1:1", connect_timeout_s="soon")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "The UI is misconfigured" in at.error[0].value
    assert "PORTO_UI_CONNECT_TIMEOUT_S" in at.error[0].value
