"""porto.ports: what counts as a taken port, and the one line that says so."""

from __future__ import annotations

import socket

import pytest
from porto.errors import ConfigError
from porto.ports import PortInUseError, ensure_all_free, ensure_free, is_free


def test_a_listening_port_is_taken_and_free_again_once_closed() -> None:
    with socket.socket() as listener:
        # As servers do (gunicorn, Streamlit, prometheus_client), so they can restart at once.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert not is_free("127.0.0.1", port)
        # A connection leaves the server side in TIME_WAIT after close: still free to bind.
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            accepted.close()
    assert is_free("127.0.0.1", port)


def test_a_wildcard_listener_takes_the_port_on_loopback_too() -> None:
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with pytest.raises(PortInUseError) as caught:
            ensure_free("127.0.0.1", port, "--port")
    assert caught.value.message == (
        f"port {port} (--port) is already in use on 127.0.0.1: pick another with --port or stop "
        "what holds it"
    )
    ensure_free("127.0.0.1", 0, "--port")  # 0: the OS picks, or off


def test_one_port_for_two_options_is_refused() -> None:
    with pytest.raises(ConfigError, match="port 1234 is given to both --api-port and --ui-port"):
        ensure_all_free([("127.0.0.1", 1234, "--api-port"), ("127.0.0.1", 1234, "--ui-port")])
