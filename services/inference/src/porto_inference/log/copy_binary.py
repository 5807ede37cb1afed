"""A prediction log entry as PostgreSQL's binary ``COPY`` rows, built a request at a time.

asyncpg's ``copy_records_to_table`` encodes every value of every row on its own (about 2 µs per
logged row, the writer's whole cost). Most of a logged row is the same for every row of its
request (time, model, version, endpoint, request id, threshold, latency), and the rest is fixed
width (prediction id, score, class) except the features and the record id. So an entry is
encoded in a few numpy calls: the fixed-width part of all its rows as one structured array, and
the variable parts interleaved with it by one ``bytes.join``.

The column order is :data:`COPY_COLUMNS` (``COPY`` takes any order): the fixed-width columns
first, then the features, then the record id. Format: PostgreSQL's documented binary copy
format (a signature and header, per row a 16-bit field count and, per field, a 32-bit length,
-1 for null, and the value in network byte order; a 16-bit -1 ends the data).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain, repeat
from typing import Any

import numpy as np
import orjson

from porto_inference.ids import PredictionIds
from porto_inference.log.entry import COLUMNS, LogEntry

#: The prediction_log columns in the order the binary rows hold them: the log entry's columns
#: (:data:`~porto_inference.log.entry.COLUMNS`) with the two of variable width moved last.
COPY_COLUMNS = (
    *(c for c in COLUMNS if c not in ("record_id", "features", "score", "predicted_class")),
    "score",
    "predicted_class",
    "features",
    "record_id",
)

#: The start of a binary COPY stream: signature, flags (none), header extension length (0).
HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
#: The end of a binary COPY stream: a field count of -1.
TRAILER = (-1).to_bytes(2, "big", signed=True)

_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_NULL = (-1).to_bytes(4, "big", signed=True)


def _field(value: bytes | None) -> bytes:
    """One field: its length and its bytes, or the null marker."""
    return _NULL if value is None else len(value).to_bytes(4, "big") + value


def _text(value: str | None) -> bytes:
    return _field(None if value is None else value.encode("utf-8"))


_MICROSECOND = datetime.resolution


def _uuid_bytes(ids: list[str]) -> bytes:
    """The 16 bytes of each UUID string, concatenated (one hex decode for all; none for new ids
    that carry their bytes, :class:`~porto_inference.ids.PredictionIds`)."""
    if type(ids) is PredictionIds:
        return ids.packed
    packed = bytes.fromhex("".join(ids).replace("-", ""))
    if len(packed) != 16 * len(ids):
        raise ValueError("a prediction id is not a UUID")
    return packed


def _uuids(ids: list[str]) -> np.ndarray:
    """:func:`_uuid_bytes` as an (n, 16) uint8 array."""
    return np.frombuffer(_uuid_bytes(ids), dtype=np.uint8).reshape(len(ids), 16)


#: Up to this many rows, an entry's rows are packed one by one (numpy's set-up costs more).
SMALL_ENTRY = 8
#: A row's head up to its shared columns, and from the score to the features' length.
_ID_HEAD = struct.Struct(">hi16s")
_SCORE_TO_FEATURES = struct.Struct(">idihi")


@lru_cache(maxsize=64)
def _row_head(shared_size: int) -> np.dtype[Any]:
    """The fixed-width part of a row whose shared columns take ``shared_size`` bytes."""
    return np.dtype(
        [
            ("fields", ">i2"),
            ("id_len", ">i4"),
            ("id", "u1", (16,)),
            ("shared", f"V{shared_size}"),
            ("score_len", ">i4"),
            ("score", ">f8"),
            ("class_len", ">i4"),
            ("class", ">i2"),
            ("features_len", ">i4"),
        ]
    )


#: A timestamptz field (length 8, microseconds since 2000-01-01 UTC), and the threshold and
#: latency fields.
_TIMESTAMP = struct.Struct(">iq")
_THRESHOLD_LATENCY = struct.Struct(">idif")


@lru_cache(maxsize=256)
def _model_fields(model_name: str, model_version: str, endpoint: str) -> bytes:
    """The model name, version and endpoint fields (the same for every request of a route and
    version, so encoded once)."""
    return _text(model_name) + _text(model_version) + _text(endpoint)


def _shared(entry: LogEntry) -> bytes:
    """The columns every row of the entry shares, encoded once."""
    return b"".join(
        (
            _TIMESTAMP.pack(8, (entry.created_at - _PG_EPOCH) // _MICROSECOND),
            _model_fields(entry.model_name, entry.model_version, entry.endpoint),
            _text(entry.request_id),
            _THRESHOLD_LATENCY.pack(8, entry.threshold, 4, entry.latency_ms),
        )
    )


#: A field's length for the short lengths of record ids, encoded once.
_LENGTHS = [n.to_bytes(4, "big") for n in range(64)]
_INT = frozenset({int})


def _record_ids(entry: LogEntry) -> Iterable[bytes]:
    """Each row's record id field (text, or null)."""
    ids = entry.record_ids
    if ids is None:
        return repeat(_NULL, entry.rows)
    if len(ids) > SMALL_ENTRY and set(map(type, ids)) == _INT:
        # the commonest ids, integers: their texts (as str() spells them) in one call
        try:
            texts = orjson.dumps(ids)[1:-1].split(b",")
        except orjson.JSONEncodeError:  # beyond 64 bits
            pass
        else:
            return [_LENGTHS[len(t)] + t for t in texts]
    spelled = [None if v is None else str(v).encode() for v in ids]
    return [_NULL if t is None else len(t).to_bytes(4, "big") + t for t in spelled]


def encode_rows(entry: LogEntry) -> bytes:
    """The entry's rows as binary COPY rows (no header, no trailer), in :data:`COPY_COLUMNS`
    order."""
    n = entry.rows
    if n == 0:
        return b""
    shared = _shared(entry)
    features = entry.features
    if n <= SMALL_ENTRY:
        ids = _uuid_bytes(entry.prediction_ids)
        scores, classes = entry.scores, entry.classes
        parts: list[bytes] = []
        for i, tail in enumerate(_record_ids(entry)):
            parts += (
                _ID_HEAD.pack(len(COPY_COLUMNS), 16, ids[16 * i : 16 * i + 16]),
                shared,
                _SCORE_TO_FEATURES.pack(8, scores[i], 2, classes[i], len(features[i])),
                features[i],
                tail,
            )
        return b"".join(parts)
    fixed = _row_head(len(shared))
    head = np.empty(n, dtype=fixed)
    head["fields"] = len(COPY_COLUMNS)
    head["id_len"] = 16
    head["id"] = _uuids(entry.prediction_ids)
    head["shared"] = np.frombuffer(shared, dtype=f"V{len(shared)}")[0]
    head["score_len"] = 8
    head["score"] = entry.scores
    head["class_len"] = 2
    head["class"] = np.asarray(entry.classes)
    head["features_len"] = np.fromiter(map(len, features), dtype=np.int64, count=n)
    blob = head.tobytes()
    size = fixed.itemsize
    heads = [blob[i : i + size] for i in range(0, n * size, size)]
    return b"".join(chain.from_iterable(zip(heads, features, _record_ids(entry), strict=True)))


def encoded(entry: LogEntry) -> bytes:
    """:func:`encode_rows` of ``entry``, kept on it (a retried chunk is not encoded again)."""
    if entry.binary is None:
        entry.binary = encode_rows(entry)
    return entry.binary


#: What encoding an entry raises for values it cannot write (the writer meets them again, as
#: data errors, and isolates the rows; see :func:`pack`).
ENCODE_ERRORS = (ValueError, TypeError, UnicodeError, OverflowError, struct.error)


def pack(entry: LogEntry) -> bool:
    """Encode ``entry`` when it is queued, on the request's own thread, and let go of its
    feature texts (its rows hold them). Encoding there costs the same CPU as in the writer
    thread, a few microseconds per row, spread over the requests; in the writer it came in one
    piece per flush (single-row entries: 4 µs each, so 7–10 ms with the interpreter lock held
    for a half second's 840 of them), and every request that arrived meanwhile waited behind it.
    False, the entry left as it was, when a value cannot be encoded: the writer then isolates
    the refused rows as before."""
    try:
        encoded(entry)
    except ENCODE_ERRORS:  # (encoded sets entry.binary only once it succeeds)
        return False
    entry.features = []
    return True


def restore_features(entry: LogEntry) -> None:
    """Put the feature texts :func:`pack` let go of back on ``entry``, read from its rows (for
    the rare row-by-row writes that isolate a refused row)."""
    data = entry.binary
    if data is None or len(entry.features) == entry.rows:
        return
    skip = _ID_HEAD.size + len(_shared(entry)) + _SCORE_TO_FEATURES.size - 4
    features: list[bytes] = []
    at = 0
    for _ in range(entry.rows):
        at += skip
        size = int.from_bytes(data[at : at + 4], "big", signed=True)
        at += 4
        features.append(data[at : at + size])
        at += size
        record_id = int.from_bytes(data[at : at + 4], "big", signed=True)
        at += 4 + max(record_id, 0)
    entry.features = features


#: About how many bytes each piece of :func:`copy_pieces` holds (each one CopyData message).
PIECE_BYTES = 128 * 1024


def copy_pieces(entries: Iterable[LogEntry], size: int = PIECE_BYTES) -> Iterator[bytes]:
    """A binary COPY stream of ``entries``' rows in pieces of about ``size`` bytes (an entry
    that large on its own, as it is).

    Pieces, not the whole stream at once: asyncpg copies a buffer it is given into one CopyData
    message (its own buffer growing as it goes), and what the socket does not take at once is
    copied again into the transport's buffer: a 20,000-row chunk (6 MB) held three copies of
    itself at once. In pieces, the large entries go as they are and each piece is copied once,
    sent as the socket drains (asyncpg waits for it between pieces). CPU: the same within
    noise in ``bench_api``'s ingest measurement (0.81-0.84 µs per row against 0.86, pack
    included); a bare ``copy_to_table`` of such a chunk took 9.0 ms of client CPU as one
    buffer and 3.2 ms in 128-256 KB pieces (median of 8).
    """
    parts, have = [HEADER], len(HEADER)
    for entry in entries:
        data = encoded(entry)
        if len(data) >= size:
            if parts:
                yield b"".join(parts)
                parts, have = [], 0
            yield data
            continue
        parts.append(data)
        have += len(data)
        if have >= size:
            yield b"".join(parts)
            parts, have = [], 0
    parts.append(TRAILER)
    yield b"".join(parts)
