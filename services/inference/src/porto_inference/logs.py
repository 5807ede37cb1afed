"""Structured logs: one JSON object per line on stdout, ready for a log collector.

Configured by the app factory (never at import time). Request lines carry their fields in
``extra={"fields": {...}}``; any other ``extra`` key is kept as a field too.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from porto_inference.settings import Settings

_STANDARD = set(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName", "fields", "color_message"}
)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", ...fields}`` as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = record.__dict__.get("fields")
        if fields:
            out.update(fields)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is at the time (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


class AccessLog:
    """One JSON line per request (same shape as the formatter's), written in small batches.

    Requests are the hot path: this skips the logging module's record, handler and formatter
    layers, and collects lines for up to ``delay`` seconds or ``max_bytes`` before one write.
    A write of whole lines under 4 KiB is atomic on a pipe and on an append-only file, so the
    lines of several gunicorn workers sharing stdout never interleave.
    """

    def __init__(self, *, max_bytes: int = 3500, delay: float = 0.2) -> None:
        self.max_bytes = max_bytes
        self.delay = delay
        self._lines: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None

    def write(self, fields: dict[str, Any]) -> None:
        """Queue one request line."""
        line = orjson.dumps(
            {
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "level": "info",
                "logger": "porto_inference.access",
                "message": "request",
                **fields,
            },
            default=str,
        ).decode()
        if self._size + len(line) + 1 > self.max_bytes:
            self.flush()
        self._lines.append(line)
        self._size += len(line) + 1
        if self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(self.delay, self.flush)
            except RuntimeError:  # no event loop (called from a thread): write now
                self.flush()

    def flush(self) -> None:
        """Write the queued lines now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._lines:
            text = "\n".join(self._lines) + "\n"
            self._lines.clear()
            self._size = 0
            out = sys.stdout
            out.write(text)
            out.flush()


def configure_logging(settings: Settings) -> None:
    """Send porto's, uvicorn's and gunicorn's logs to stdout as JSON lines at the set level."""
    handler = StdoutHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_porto", False):
            root.removeHandler(old)
    handler._porto = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # The request middleware writes the access line; uvicorn's would double it.
    access = logging.getLogger("uvicorn.access")
    access.handlers = []
    access.propagate = False
    access.disabled = True
    for noisy in ("asyncio", "botocore", "urllib3", "s3transfer", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
