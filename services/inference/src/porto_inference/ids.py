"""Prediction ids: UUIDv7 (RFC 9562), time-ordered.

Time order keeps the prediction log's primary-key index append-only (fast inserts), and the
embedded timestamp tells /feedback whether an id it cannot find yet may still be on its way to
the database (young) or never existed (old or not a porto id at all).
"""

from __future__ import annotations

import os
import time
import uuid

_VARIANT = "89ab"


def new_prediction_ids(count: int) -> list[str]:
    """Return ``count`` new UUIDv7 strings sharing this millisecond, in one random draw."""
    millis = time.time_ns() // 1_000_000
    ts = f"{millis:012x}"
    head = f"{ts[:8]}-{ts[8:]}-7"
    rand = os.urandom(10 * count).hex()
    out = []
    for i in range(0, 20 * count, 20):
        r = rand[i : i + 20]
        out.append(f"{head}{r[0:3]}-{_VARIANT[int(r[3], 16) & 3]}{r[4:7]}-{r[7:19]}")
    return out


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
