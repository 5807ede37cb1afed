"""The Open Inference Protocol (KServe V2) on the wire, with no HTTP in it: an inference request's
tensors → the records :mod:`porto_inference.scoring.predict` scores, the scored rows → the
response's output tensors, and a version's manifest → the model metadata.

A request sends either **one input per feature** (name = feature name, shape ``[n]`` or
``[n, 1]``) or **one 2-D input** of any other name, shape ``[n, features]`` in model feature
order (or ``[n, dataset columns]``: a full training-data row without id and target, as
/predict's positional rows). The records built from them are /predict's own (a dict keyed by
feature name for one row, positional lists in model order for more), so the feature codec
validates them exactly as it validates /predict: the protocol adds only the tensor checks
(names, shapes, datatypes, data length), which fail with 400 naming the input; the codec's
value checks fail with its 422. The commonest request, JSON inputs per feature, is checked in bulk
(:func:`_fast_inputs`); anything else input by input, naming what is wrong.

Tensor data is JSON (flat or nested, row-major) or, with the binary tensor data extension, raw
little-endian bytes after a JSON header of ``Inference-Header-Content-Length`` bytes. Outputs:
``probability`` (FP64), ``class`` (INT64) and ``prediction_id`` (BYTES, the id /feedback takes),
each of shape ``[n]``; a request may name the ones it wants and ask for any of them in binary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, compress
from math import prod
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
from porto.bundle import Manifest
from porto.contracts.oip import ModelMetadata, TensorMetadata
from porto.errors import NotFoundError, PortoError
from porto.flavors.base import Contributions
from porto.schema import FeatureKind, FeatureSchema, FeatureSpec

from porto_inference.errors import BadRequestError, PayloadTooLargeError, ValidationFailedError
from porto_inference.scoring.model_manager import ModelManager
from porto_inference.scoring.payload import parse_json

#: The extensions ``GET /v2`` lists.
EXTENSIONS = ["binary_tensor_data"]
#: Outputs of every model, in the order an answer lists them when the request names none.
OUTPUTS = ("probability", "class", "prediction_id")
#: With ``parameters.explain`` (or when asked for by name): each row's per-feature contributions
#: to its raw score ([rows, features], features in the metadata's input order) and their base.
EXPLAIN_OUTPUTS = ("contributions", "base_value")
OUTPUT_TYPES = {
    "probability": "FP64",
    "class": "INT64",
    "prediction_id": "BYTES",
    "contributions": "FP64",
    "base_value": "FP64",
}

#: Python types a JSON tensor of each datatype may hold. A JSON null in a floating-point tensor
#: is a missing value (JSON has no NaN); true and false in a numeric tensor are 1 and 0, as
#: /predict reads them.
_FLOAT: frozenset[type] = frozenset({int, float, bool, type(None)})
_INT: frozenset[type] = frozenset({int, bool})
_JSON_TYPES: dict[str, frozenset[type]] = {
    "BOOL": frozenset({bool}),
    "UINT8": _INT,
    "UINT16": _INT,
    "UINT32": _INT,
    "UINT64": _INT,
    "INT8": _INT,
    "INT16": _INT,
    "INT32": _INT,
    "INT64": _INT,
    "FP32": _FLOAT,
    "FP64": _FLOAT,
    "BYTES": frozenset({str}),
}
#: Little-endian numpy types of the fixed-size datatypes, for binary tensor data and ranges.
_NUMPY: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP32": "<f4",
    "FP64": "<f8",
}
_UNSUPPORTED = frozenset({"FP16", "BF16"})
#: (smallest, largest) value of each integer datatype.
_INT_RANGES: dict[str, tuple[int, int]] = {
    name: (int(np.iinfo(code).min), int(np.iinfo(code).max))
    for name, code in _NUMPY.items()
    if code.startswith(("<u", "<i"))
}

#: Longest version or alias a path may name (the /models routes' limit).
MAX_REF_CHARS = 128
#: Dimensions an input may have: rows, and features or 1.
MAX_DIMS = 2
_TYPE_NAMES = {bool: "a boolean", str: "a string", dict: "an object", list: "a list"}


@dataclass(frozen=True, slots=True)
class Tensor:
    """One input of a request: its values flattened in row-major order."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: list[Any]


@dataclass(frozen=True, slots=True)
class InferBody:
    """An inference request, read and checked as far as it can be without a model: its inputs
    as parallel lists (no object per input: a request has one per feature)."""

    id: str | None
    names: list[str]
    datatypes: list[str]
    shapes: list[tuple[int, ...]]
    columns: list[list[Any]]
    """Each input's values, flattened in row-major order."""
    outputs: list[tuple[str, bool]]
    """(name, binary) of each output to answer, in the order to answer them."""
    rows: int
    explain: bool = False
    """Whether the explanation outputs are answered (``parameters.explain``, or asked for)."""


def _error(message: str) -> BadRequestError:
    return BadRequestError(message)


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), "null" if value is None else type(value).__name__)


def _flag(parameters: dict[str, Any] | None, key: str, where: str) -> bool | None:
    """A boolean parameter, None when absent."""
    if parameters is None or key not in parameters:
        return None
    value = parameters[key]
    if type(value) is not bool:
        raise _error(f"{where} parameter {key!r} must be true or false")
    return value


def _parameters(item: dict[str, Any], where: str) -> dict[str, Any] | None:
    value = item.get("parameters")
    if value is None:
        return None
    if type(value) is not dict:
        raise _error(f"{where}: 'parameters' must be an object")
    return value


def read_infer(body: bytes, header_length: int | None, max_rows: int) -> InferBody:
    """The inference request in ``body``: JSON, or a JSON header of ``header_length`` bytes
    followed by binary tensor data. Every input's name, datatype, shape and data are checked
    (400 naming the input), and the batch size against ``max_rows`` (413) and for emptiness
    (422), before any model is looked up."""
    binary = b""
    if header_length is not None:
        if header_length < 0 or header_length > len(body):
            raise _error(
                f"Inference-Header-Content-Length is {header_length}, the body has {len(body)} "
                "bytes"
            )
        body, binary = body[:header_length], body[header_length:]
    request = parse_json(body)
    if type(request) is not dict:
        raise _error("expected an inference request: a JSON object with 'inputs'")
    request_id = request.get("id")
    if request_id is not None and type(request_id) is not str:
        raise _error("'id' must be a string")
    parameters = _parameters(request, "the request")
    inputs = request.get("inputs")
    if type(inputs) is not list or not inputs:
        raise _error("'inputs' must be a non-empty list of input tensors")
    fast = None if binary else _fast_inputs(inputs)
    if fast is not None:
        names, datatypes, shapes, columns = fast
    else:
        names, datatypes, shapes, columns = _read_inputs(inputs, binary)
    rows = shapes[0][0]
    for name, shape in zip(names[:1] if fast else names, shapes, strict=False):
        if shape[0] > max_rows:
            raise PayloadTooLargeError(
                f"input {name!r} has {shape[0]} rows: the limit is {max_rows} per request"
            )
    if rows == 0:
        raise ValidationFailedError(
            "the batch holds no records (the inputs' first dimension is 0)",
            [{"field": names[0], "message": "empty batch"}],
        )
    binary_all = _flag(parameters, "binary_data_output", "the request") or False
    explain = _flag(parameters, "explain", "the request") or False
    outputs = _read_outputs(request.get("outputs"), binary_all, explain)
    return InferBody(
        id=request_id,
        names=names,
        datatypes=datatypes,
        shapes=shapes,
        columns=columns,
        outputs=outputs,
        rows=rows,
        explain=any(name in EXPLAIN_OUTPUTS for name, _ in outputs),
    )


_Inputs = tuple[list[str], list[str], list[tuple[int, ...]], list[list[Any]]]
_FIELDS = itemgetter("name", "datatype", "shape", "data")


def _fast_inputs(inputs: list[Any]) -> _Inputs | None:
    """The commonest request, one JSON input per feature of shape [n] with flat data and no
    parameters, checked in bulk (a few C-level passes over all inputs instead of a dozen
    Python steps per input); None when anything is not so simple: :func:`_read_inputs` then
    reads the inputs one by one and names what is wrong."""
    try:
        if set(map(len, inputs)) != {4}:
            return None
        names, datatypes, shapes, columns = zip(*map(_FIELDS, inputs), strict=True)
        kinds = set(datatypes)
    except (KeyError, TypeError):  # a missing field, an input that is not an object, ...
        return None
    if not kinds <= _JSON_TYPES.keys():
        return None
    # The names are checked by records(), against the model's (cheaply when they are its
    # features in model order).
    count = len(names)
    first = shapes[0]
    if type(first) is not list or len(first) != 1 or shapes.count(first) != count:
        return None
    n = first[0]
    if type(n) is not int or n < 1:
        return None
    if set(map(type, columns)) != {list} or set(map(len, columns)) != {n}:
        return None
    if n == 1:
        values = list(map(itemgetter(0), columns))
        for datatype in kinds:
            allowed = _JSON_TYPES.get(datatype)
            group = list(compress(values, map(datatype.__eq__, datatypes)))
            if allowed is None or not set(map(type, group)) <= allowed:
                return None
            limits = _INT_RANGES.get(datatype)
            if limits is not None and (min(group) < limits[0] or max(group) > limits[1]):
                return None
    else:
        groups: dict[str, list[list[Any]]] = {}
        for datatype, column in zip(datatypes, columns, strict=True):
            groups.setdefault(datatype, []).append(column)
        for datatype, group in groups.items():
            if not _group_ok(datatype, group):
                return None
    return list(names), list(datatypes), [(n,)] * count, list(columns)


def _group_ok(datatype: str, group: list[list[Any]]) -> bool:
    """Whether every value of the columns in ``group`` fits ``datatype``, by C-level passes
    (summing numbers, joining text: ten times faster than asking each value its type). False
    means: look closer (a null in a float tensor, which is allowed, also lands there)."""
    values = chain.from_iterable(group)
    try:
        if datatype in ("FP64", "FP32"):
            sum(values)
            return True
        limits = _INT_RANGES.get(datatype)
        if limits is not None:
            return (
                type(sum(values)) is int
                and min(map(min, group)) >= limits[0]
                and max(map(max, group)) <= limits[1]
            )
        if datatype == "BYTES":
            "".join(values)
            return True
    except (TypeError, OverflowError):
        return False
    return datatype == "BOOL" and set(map(type, values)) == {bool}


def _read_inputs(inputs: list[Any], binary: bytes) -> _Inputs:
    """Every input, read and checked one by one (400 naming the input and what is wrong)."""
    names: list[str] = []
    datatypes: list[str] = []
    shapes: list[tuple[int, ...]] = []
    columns: list[list[Any]] = []
    offset = 0
    seen: set[str] = set()
    for position, item in enumerate(inputs):
        tensor, used = _read_input(position, item, binary, offset)
        if tensor.name in seen:
            raise _error(f"input {tensor.name!r} is given twice")
        seen.add(tensor.name)
        offset += used
        names.append(tensor.name)
        datatypes.append(tensor.datatype)
        shapes.append(tensor.shape)
        columns.append(tensor.values)
    if offset != len(binary):
        raise _error(
            f"{len(binary) - offset} bytes of binary data follow the JSON header that no input's "
            "binary_data_size accounts for"
        )
    return names, datatypes, shapes, columns


def _read_input(position: int, item: Any, binary: bytes, offset: int) -> tuple[Tensor, int]:
    """One input tensor, and how many bytes of ``binary`` (from ``offset``) it took."""
    if type(item) is not dict:
        raise _error(f"inputs[{position}] must be an object with name, shape, datatype and data")
    name = item.get("name")
    if type(name) is not str or not name:
        raise _error(f"inputs[{position}] has no name")
    where = f"input {name!r}"
    datatype = item.get("datatype")
    if type(datatype) is not str:
        raise _error(f"{where} has no datatype")
    if datatype in _UNSUPPORTED:
        raise _error(f"{where}: datatype {datatype} is not supported: send FP32 or FP64")
    if datatype not in _JSON_TYPES:
        raise _error(f"{where}: unknown datatype {datatype!r} (one of {', '.join(_JSON_TYPES)})")
    shape = item.get("shape")
    if type(shape) is not list or not all(type(d) is int and d >= 0 for d in shape):
        raise _error(f"{where}: 'shape' must be a list of sizes (integers >= 0)")
    if not 1 <= len(shape) <= MAX_DIMS:
        raise _error(
            f"{where}: shape {shape} has {len(shape)} dimensions: an input is [n] or [n, 1] (one "
            "feature) or [n, features] (every feature)"
        )
    size = prod(shape)
    parameters = _parameters(item, where)
    data = item.get("data")
    binary_size = None if parameters is None else parameters.get("binary_data_size")
    used = 0
    if binary_size is not None:
        if data is not None:
            raise _error(f"{where} has both 'data' and parameters.binary_data_size")
        if type(binary_size) is not int or binary_size < 0:
            raise _error(f"{where}: binary_data_size must be an integer >= 0")
        if offset + binary_size > len(binary):
            raise _error(
                f"{where}: binary_data_size is {binary_size} bytes, only "
                f"{len(binary) - offset} follow the JSON header"
            )
        values = _from_binary(where, datatype, binary[offset : offset + binary_size], size)
        used = binary_size
    elif type(data) is list:
        values = _flatten(where, data, shape)
        _check_types(where, datatype, values)
    else:
        raise _error(f"{where} has no 'data' (a list of values)")
    if len(values) != size:
        raise _error(f"{where}: shape {shape} holds {size} values, 'data' has {len(values)}")
    return Tensor(name=name, datatype=datatype, shape=tuple(shape), values=values), used


def _flatten(where: str, data: list[Any], shape: Sequence[int]) -> list[Any]:
    """``data`` in row-major order: as it is when flat, else checked against ``shape`` level by
    level and flattened."""
    if not data or type(data[0]) is not list:
        return data
    if len(shape) != MAX_DIMS or len(data) != shape[0]:
        raise _error(f"{where}: nested 'data' does not match shape {list(shape)}")
    width = shape[1]
    if not all(type(row) is list and len(row) == width for row in data):
        raise _error(f"{where}: nested 'data' does not match shape {list(shape)}")
    return list(chain.from_iterable(data))


def _check_types(where: str, datatype: str, values: list[Any]) -> None:
    """400 naming the first element of ``values`` that ``datatype`` cannot hold."""
    allowed = _JSON_TYPES[datatype]
    if set(map(type, values)) <= allowed:
        limits = _INT_RANGES.get(datatype)
        if limits is not None and values:
            low, high = limits
            if min(values) < low or max(values) > high:
                bad = next(i for i, v in enumerate(values) if v < low or v > high)
                raise _error(
                    f"{where}: element {bad} ({values[bad]}) is out of range for {datatype}"
                )
        return
    bad = next(i for i, v in enumerate(values) if type(v) not in allowed)
    expected = {
        "BOOL": "true or false",
        "BYTES": "a string",
        "FP32": "a number",
        "FP64": "a number",
    }.get(datatype, "an integer")
    raise _error(
        f"{where}: element {bad} is {_type_name(values[bad])}, not {expected} ({datatype})"
    )


def _from_binary(where: str, datatype: str, raw: bytes, size: int) -> list[Any]:
    """The values of a tensor sent as binary data."""
    if datatype == "BYTES":
        return _bytes_elements(where, raw)
    dtype = np.dtype(_NUMPY[datatype])
    if len(raw) != size * dtype.itemsize:
        raise _error(
            f"{where}: {len(raw)} bytes of {datatype} data, the shape needs {size * dtype.itemsize}"
        )
    values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    return values


def _bytes_elements(where: str, raw: bytes) -> list[str]:
    """BYTES elements in binary: each a 4-byte little-endian length and that many bytes, which
    must be UTF-8 text here (a category or a number)."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        if i + 4 > len(raw):
            raise _error(f"{where}: truncated BYTES element {len(out)}")
        length = int.from_bytes(raw[i : i + 4], "little")
        i += 4
        if i + length > len(raw):
            raise _error(f"{where}: truncated BYTES element {len(out)}")
        try:
            out.append(raw[i : i + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise _error(f"{where}: BYTES element {len(out)} is not UTF-8 text") from None
        i += length
    return out


def _read_outputs(requested: Any, binary_all: bool, explain: bool) -> list[tuple[str, bool]]:
    if requested is None:
        names = OUTPUTS + EXPLAIN_OUTPUTS if explain else OUTPUTS
        return [(name, binary_all) for name in names]
    if type(requested) is not list:
        raise _error("'outputs' must be a list of {name} objects")
    out: list[tuple[str, bool]] = []
    for position, item in enumerate(requested):
        name = item.get("name") if type(item) is dict else None
        if type(name) is not str:
            raise _error(f"outputs[{position}] has no name")
        if name not in OUTPUT_TYPES:
            raise _error(f"unknown output {name!r}: the outputs are {', '.join(OUTPUT_TYPES)}")
        if any(name == seen for seen, _ in out):
            raise _error(f"output {name!r} is requested twice")
        binary = _flag(_parameters(item, f"output {name!r}"), "binary_data", f"output {name!r}")
        out.append((name, binary_all if binary is None else binary))
    if not out:
        raise _error("'outputs' is empty: leave it out to get every output")
    return out


# --- tensors → records --------------------------------------------------------------------------
def records(body: InferBody, schema: FeatureSchema, *, allow_missing: bool) -> list[Any]:
    """The records of ``body`` for ``schema``'s codec, in /predict's shapes: for inputs per
    feature, a dict keyed by input name for one row (the codec takes out the id column, the
    target and ignored columns as for /predict), lists in model order for more; for a 2-D input,
    its rows as lists (``{"features": [...]}`` for one), in model order or the training data's
    column order."""
    if len(body.names) == 1 and len(body.shapes[0]) == 2:
        name = body.names[0]
        if name not in set(schema.names) | _extra_columns(schema):
            return _matrix_rows(name, body.shapes[0], body.columns[0], schema)
    return _feature_rows(body, schema, allow_missing=allow_missing)


def _extra_columns(schema: FeatureSchema) -> set[str]:
    """Inputs accepted besides the features: the id column, the target and ignored columns."""
    extra = set(schema.ignored)
    if schema.id_column:
        extra.add(schema.id_column)
    if schema.target:
        extra.add(schema.target)
    return extra


def _matrix_rows(
    name: str, shape: tuple[int, ...], values: list[Any], schema: FeatureSchema
) -> list[Any]:
    width = shape[1]
    names = schema.names
    widths = [len(names)]
    columns = schema.dataset_columns
    if columns is not None and len(columns) != len(names):
        widths.append(len(columns))
    if width not in widths:
        accepted = " or ".join(str(w) for w in widths)
        raise _error(
            f"input {name!r}: shape {list(shape)} has {width} columns; a 2-D input "
            f"holds the model's {len(names)} features in model order"
            + (
                f" ({accepted} columns: features, or a training-data row without id and target)"
                if len(widths) > 1
                else ""
            )
            + "; or send one input per feature, named by the feature"
        )
    rows = [values[i : i + width] for i in range(0, len(values), width)]
    if len(rows) == 1:
        return [{"features": rows[0]}]
    return rows


def _feature_rows(body: InferBody, schema: FeatureSchema, *, allow_missing: bool) -> list[Any]:
    names = schema.names
    given = body.names
    first = body.shapes[0]
    if given == names and body.shapes.count(first) == len(given) and first[1:] in ((), (1,)):
        return _rows(body, schema)  # every feature in model order, all [n] or [n, 1]: all well
    _check_names(given)
    unknown = set(given) - set(names) - _extra_columns(schema)
    if unknown:
        bad = next(name for name in given if name in unknown)
        raise _error(
            f"unknown input {bad!r}: send one input per feature, named by the feature "
            f"(GET /v2/models/{{name}} lists them), or a single 2-D input of shape "
            f"[n, {len(names)}] in model feature order"
        )
    for shape in dict.fromkeys(body.shapes):  # each distinct shape, in input order
        name = given[body.shapes.index(shape)]
        if len(shape) == 2 and shape[1] != 1:
            raise _error(
                f"input {name!r}: shape {list(shape)}; a feature's input has shape [n] or [n, 1]"
            )
        if shape[0] != body.rows:
            raise _error(
                f"input {name!r} has {shape[0]} rows, input {given[0]!r} has {body.rows}: every "
                "input needs the same first dimension"
            )
    present = set(given)
    if not allow_missing and not present.issuperset(names):
        missing = [name for name in names if name not in present]
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        shown = ", ".join(missing[:10]) + more
        raise _error(f"missing input(s) {shown}: the model needs one input per feature")
    return _rows(body, schema)


def _check_names(names: list[Any]) -> None:
    """400 for an input name that is not text, empty, or given twice."""
    if set(map(type, names)) != {str} or "" in names:
        position = next(i for i, name in enumerate(names) if type(name) is not str or not name)
        raise _error(f"inputs[{position}] has no name")
    if len(set(names)) != len(names):
        twice = next(name for i, name in enumerate(names) if name in names[:i])
        raise _error(f"input {twice!r} is given twice")


def _rows(body: InferBody, schema: FeatureSchema) -> list[Any]:
    """The records of checked per-feature inputs. One row: a dict keyed by input name (what
    /predict reads fastest). More: lists of the feature values in model order (absent features,
    allowed by the settings, null), which the codec and the prediction log take as they are,
    with no dict per row; wrapped as ``{"id", "features"}`` when the id column came too."""
    if body.rows == 1:
        return [dict(zip(body.names, map(itemgetter(0), body.columns), strict=True))]
    names = schema.names
    by_name = None
    if body.names == names:
        columns = body.columns
    else:
        by_name = dict(zip(body.names, body.columns, strict=True))
        absent = [None] * body.rows
        columns = [by_name.get(name, absent) for name in names]
    rows: list[Any] = list(map(list, zip(*columns, strict=True)))
    id_column = schema.id_column
    if by_name is not None and id_column and id_column in by_name:
        return [{"id": i, "features": r} for i, r in zip(by_name[id_column], rows, strict=True)]
    return rows


# --- the answer ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Answer:
    """An inference response's bytes; ``header_length`` is set when binary outputs follow the
    JSON (the ``Inference-Header-Content-Length`` header)."""

    content: bytes
    header_length: int | None


def answer(
    body: InferBody,
    *,
    model_name: str,
    model_version: str,
    threshold: float,
    probabilities: np.ndarray,
    classes: np.ndarray,
    prediction_ids: list[str],
    contributions: Contributions | None = None,
) -> Answer:
    """The response to ``body``, as :class:`porto.contracts.oip.InferenceResponse` serialises it
    (JSON outputs), written without a pydantic object per row."""
    n = len(prediction_ids)
    c = contributions
    values: dict[str, Callable[[], list[Any]]] = {
        "probability": probabilities.tolist,
        "class": lambda: np.asarray(classes, dtype=np.int64).tolist(),
        "prediction_id": lambda: prediction_ids,
        "contributions": lambda: _explained(c).values.ravel().tolist(),
        "base_value": lambda: _explained(c).base.tolist(),
    }
    encoders: dict[str, Callable[[], bytes]] = {
        "probability": lambda: np.asarray(probabilities, dtype="<f8").tobytes(),
        "class": lambda: np.asarray(classes, dtype="<i8").tobytes(),
        "prediction_id": lambda: b"".join(
            len(b).to_bytes(4, "little") + b for b in (p.encode() for p in prediction_ids)
        ),
        "contributions": lambda: np.asarray(_explained(c).values, dtype="<f8").tobytes(),
        "base_value": lambda: np.asarray(_explained(c).base, dtype="<f8").tobytes(),
    }
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, binary in body.outputs:
        shape = [n, _explained(c).values.shape[1]] if name == "contributions" else [n]
        output: dict[str, Any] = {"name": name, "shape": shape, "datatype": OUTPUT_TYPES[name]}
        if binary:
            blob = encoders[name]()
            blobs.append(blob)
            output["parameters"] = {"binary_data_size": len(blob)}
        else:
            output["data"] = values[name]()
        outputs.append(output)
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if body.id is not None:
        response["id"] = body.id
    response["parameters"] = {"threshold": threshold}
    response["outputs"] = outputs
    header = orjson.dumps(response)
    if not blobs:
        return Answer(header, None)
    return Answer(b"".join([header, *blobs]), len(header))


def _explained(contributions: Contributions | None) -> Contributions:
    if contributions is None:  # read_infer sets explain whenever an explanation output is asked
        raise RuntimeError("an explanation output without an explanation")
    return contributions


# --- metadata -----------------------------------------------------------------------------------
def _input_datatype(spec: FeatureSpec) -> str:
    """The datatype a feature's input is declared with (any numeric datatype or BYTES is read)."""
    if spec.kind is FeatureKind.CATEGORICAL:
        return {"int": "INT64", "float": "FP64"}.get(spec.dtype, "BYTES")
    return "FP64"


def model_metadata(manifest: Manifest, versions: list[str]) -> ModelMetadata:
    """``GET /v2/models/{name}[/versions/{version}]`` for the version ``manifest`` describes."""
    return ModelMetadata(
        name=manifest.name,
        versions=versions,
        platform=manifest.model_type,
        inputs=[
            TensorMetadata(name=spec.name, datatype=_input_datatype(spec), shape=[-1])  # type: ignore[arg-type]
            for spec in manifest.feature_schema.features
        ],
        outputs=[
            TensorMetadata(
                name=name,
                datatype=OUTPUT_TYPES[name],  # type: ignore[arg-type]
                shape=[-1, len(manifest.feature_schema.features)]
                if name == "contributions"
                else [-1],
            )
            for name in OUTPUTS + EXPLAIN_OUTPUTS
        ],
    )


class ModelCatalog:
    """The model name and versions the ``/v2`` routes serve: the configured model name (another
    name is a 404), its versions and aliases (as ``/models/{version}`` takes them)."""

    def __init__(self, models: ModelManager) -> None:
        self.models = models

    @property
    def name(self) -> str:
        """The served model name."""
        return self.models.registry.name

    def check_name(self, name: str) -> None:
        """NotFoundError unless ``name`` is the served model name."""
        if name != self.name:
            raise NotFoundError(f"unknown model {name!r}: this server serves {self.name!r}")

    @staticmethod
    def check_version(ref: str | None) -> str | None:
        """``ref``, or NotFoundError when it is too long to be a version or an alias (as the
        /models routes refuse one, before the store is asked for it)."""
        if ref is not None and len(ref) > MAX_REF_CHARS:
            raise NotFoundError(f"no version or alias is {len(ref)} characters long")
        return ref

    async def versions(self) -> list[str]:
        """Every complete version (oldest first), then every alias (sorted)."""

        def read() -> list[str]:
            registry = self.models.registry
            return [*registry.versions(), *sorted(registry.aliases())]

        return await asyncio.to_thread(read)

    async def metadata(self, name: str, ref: str | None) -> ModelMetadata:
        """The metadata of version ``ref`` of model ``name`` (None: the served version)."""
        self.check_name(name)
        ref = self.check_version(ref)
        if ref is None:
            manifest = self.models.serving().manifest
        else:
            version = await self.models.resolve(ref)
            manifest = await asyncio.to_thread(self.models.registry.get, version)
        return model_metadata(manifest, await self.versions())

    async def ready(self, name: str, ref: str | None) -> bool:
        """Whether version ``ref`` of ``name`` (None: the served one) can answer now: loaded, or
        loadable (it is loaded here if it is not yet). NotFoundError for an unknown version."""
        self.check_name(name)
        ref = self.check_version(ref)
        if ref is None:
            return self.models.current is not None
        await self.models.resolve(ref)
        try:
            await self.models.get(ref)
        except NotFoundError:
            raise
        except PortoError:  # refused (integrity), the store down: not ready, but it exists
            return False
        return True
