"""SIGTERM handling of a training run: raised at once in ordinary code, only flagged while a
module is imported (where an extension module's initialisation would catch and print it)."""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from porto_training import termination
from porto_training.cli_errors import EXIT_TERMINATED, porto_errors


@pytest.fixture
def handler() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGTERM)
    termination._received.clear()
    termination.install()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        termination._received.clear()


def test_sigterm_in_ordinary_code_raises_at_once(handler: None) -> None:
    with pytest.raises(termination.Terminated):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1_000_000):  # the handler runs between bytecodes, well before the end
            pass
    assert termination.received()


def test_sigterm_during_an_import_is_only_flagged(
    handler: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sigterm_while_imported.py").write_text(
        "import os, signal\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "for _ in range(100_000):\n"
        "    pass\n"
        "IMPORTED = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        module = importlib.import_module("sigterm_while_imported")
    finally:
        sys.modules.pop("sigterm_while_imported", None)
    assert module.IMPORTED is True
    assert termination.received()
    with pytest.raises(termination.Terminated):
        termination.check()


def test_a_failure_after_sigterm_ends_as_terminated(
    handler: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM's exception can land in an extension's callback, which prints and drops it; the
    library then fails on its half-built state (CatBoost building its Pool raised "Undefined
    value ... in NCB::ERawTargetType" and the run exited 1 with a traceback). Once SIGTERM has
    arrived, any failure ends the command as terminated: exit 143, one error line."""
    termination._received.set()
    with pytest.raises(typer.Exit) as stopped, porto_errors():
        raise RuntimeError("Undefined value 970309632 in NCB::ERawTargetType.")
    assert stopped.value.exit_code == EXIT_TERMINATED == 143
    assert capsys.readouterr().err.strip() == "error: terminated (SIGTERM)"


def test_a_failure_without_sigterm_is_left_alone(handler: None) -> None:
    with pytest.raises(RuntimeError, match="boom"), porto_errors():
        raise RuntimeError("boom")
