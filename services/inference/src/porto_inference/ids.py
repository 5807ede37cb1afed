"""Prediction ids: UUIDv7 (RFC 9562), time-ordered.

Time order keeps the prediction log's primary-key index append-only (fast inserts), and the
embedded timestamp tells /feedback whether an id it cannot find yet may still be on its way to
the database (young) or never existed (old or not a porto id at all).
"""

from __future__ import annotations

import os
import threading
import time
import uuid

import numpy as np

_VARIANT = "89ab"
_CHARS_PER_ID = 20
_POOL_IDS = 512


class _Entropy:
    """Random hex drawn from the OS a few kilobytes at a time (one syscall per 512 ids, not
    per id). Emptied in a forked child, so gunicorn workers never share a parent's pool."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hex = ""
        self._pos = 0
        self._hooked = False

    def reset(self) -> None:
        self._lock = threading.Lock()
        self._hex = ""
        self._pos = 0

    def take(self, chars: int) -> str:
        with self._lock:
            if self._pos + chars > len(self._hex):
                if not self._hooked:  # registered on first use: nothing happens at import
                    os.register_at_fork(after_in_child=self.reset)
                    self._hooked = True
                size = max(chars, _POOL_IDS * _CHARS_PER_ID)
                self._hex = os.urandom(size // 2 + 1).hex()
                self._pos = 0
            out = self._hex[self._pos : self._pos + chars]
            self._pos += chars
            return out


_ENTROPY = _Entropy()


#: From this many ids on, they are made in a few numpy calls instead of one at a time.
MANY_IDS = 64
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
#: Where each of a UUID's 32 hex digits goes in its 36-character spelling (dashes between).
_DIGIT_AT = np.array([i + (i >= 8) + (i >= 12) + (i >= 16) + (i >= 20) for i in range(32)])


class PredictionIds(list[str]):
    """Many new ids as strings, with their 16 bytes each, concatenated (``packed``): the
    prediction log stores the bytes, which it would otherwise decode from the strings again."""

    __slots__ = ("packed",)

    def __init__(self, ids: list[str], packed: bytes) -> None:
        super().__init__(ids)
        self.packed = packed


def new_prediction_ids(count: int) -> list[str]:
    """Return ``count`` new UUIDv7 strings sharing this millisecond."""
    millis = time.time_ns() // 1_000_000
    if count >= MANY_IDS:
        return _many_ids(count, millis)
    ts = f"{millis:012x}"
    head = f"{ts[:8]}-{ts[8:]}-7"
    rand = _ENTROPY.take(_CHARS_PER_ID * count)
    out = []
    for i in range(0, _CHARS_PER_ID * count, _CHARS_PER_ID):
        r = rand[i : i + _CHARS_PER_ID]
        out.append(f"{head}{r[0:3]}-{_VARIANT[int(r[3], 16) & 3]}{r[4:7]}-{r[7:19]}")
    return out


def _many_ids(count: int, millis: int) -> list[str]:
    """:func:`new_prediction_ids` for many ids: the 16 bytes of each (48-bit time, version 7,
    74 random bits from the OS, the RFC 9562 variant) spelled in hex for all ids at once."""
    raw = np.empty((count, 16), dtype=np.uint8)
    raw[:, :6] = np.frombuffer(millis.to_bytes(6, "big"), dtype=np.uint8)
    raw[:, 6:] = np.frombuffer(os.urandom(10 * count), dtype=np.uint8).reshape(count, 10)
    raw[:, 6] = 0x70 | (raw[:, 6] & 0x0F)
    raw[:, 8] = 0x80 | (raw[:, 8] & 0x3F)
    digits = np.empty((count, 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX_DIGITS[raw >> 4]
    digits[:, 1::2] = _HEX_DIGITS[raw & 0x0F]
    spelled = np.full((count, 36), ord("-"), dtype=np.uint8)
    spelled[:, _DIGIT_AT] = digits
    text = spelled.tobytes().decode("ascii")
    return PredictionIds([text[i : i + 36] for i in range(0, 36 * count, 36)], raw.tobytes())


def random_hex(chars: int) -> str:
    """``chars`` random hex digits (request ids), from the same pool."""
    return _ENTROPY.take(chars)


def id_timestamp(prediction_id: str) -> float | None:
    """Return the Unix time embedded in a UUIDv7 string, or None if it is not one."""
    try:
        parsed = uuid.UUID(prediction_id)
    except (ValueError, TypeError, AttributeError):
        return None
    if parsed.version != 7:
        return None
    return (parsed.int >> 80) / 1000.0


def is_uuid(value: object) -> bool:
    """Whether ``value`` is a string holding a UUID in any standard spelling."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
