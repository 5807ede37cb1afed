"""The Open Inference Protocol (KServe V2) answers of the inference API's ``/v2`` routes.

The protocol's own shapes (https://kserve.github.io/website/ "Open Inference Protocol", REST),
so that third-party clients (``tritonclient``, the ``kserve`` SDK) read them: the server and model
metadata, readiness, the inference request and response with their tensors, and the error body,
which is ``{"error": "<message>"}`` here rather than porto's structured error object.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

#: Tensor datatypes of the protocol that porto reads (FP16 and BF16 have no JSON form and are
#: refused).
Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP32",
    "FP64",
    "BYTES",
]

#: A parameter's value, as the protocol allows it.
Parameter = bool | int | float | str


class ServerMetadata(BaseModel):
    """``GET /v2``."""

    name: str
    version: str
    extensions: list[str] = Field(description="Protocol extensions the server supports.")


class ServerLive(BaseModel):
    """``GET /v2/health/live``."""

    live: bool


class ServerReady(BaseModel):
    """``GET /v2/health/ready`` (503 while no model is loaded)."""

    ready: bool


class ModelReady(BaseModel):
    """``GET /v2/models/{name}[/versions/{version}]/ready`` (503 when not ready)."""

    name: str
    ready: bool


class TensorMetadata(BaseModel):
    """One input or output of a model: ``-1`` in ``shape`` is the batch dimension."""

    name: str
    datatype: Datatype
    shape: list[int]


class ModelMetadata(BaseModel):
    """``GET /v2/models/{name}[/versions/{version}]``: the version's inputs, one per feature in
    model order, and its outputs."""

    name: str
    versions: list[str] = Field(
        description="Versions that may be requested by /versions/{version}: every version of the "
        "model, then its aliases (champion, latest, ...)."
    )
    platform: str = Field(description="The model flavor: 'catboost' or 'sklearn'.")
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class RequestInput(BaseModel):
    """One input tensor of an inference request."""

    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Parameter] | None = None
    data: list[object] | None = Field(
        default=None,
        description="Row-major values, flat or nested; absent when the input is sent in binary "
        "after the JSON (parameters.binary_data_size).",
    )


class RequestOutput(BaseModel):
    """An output the client wants back."""

    name: str
    parameters: dict[str, Parameter] | None = None


class InferenceRequest(BaseModel):
    """``POST /v2/models/{name}[/versions/{version}]/infer``."""

    id: str | None = None
    parameters: dict[str, Parameter] | None = None
    inputs: list[RequestInput]
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    """One output tensor of an inference response."""

    name: str
    shape: list[int]
    datatype: Datatype
    parameters: dict[str, Parameter] | None = None
    data: list[float | int | str] | None = Field(
        default=None, description="Absent when sent in binary (parameters.binary_data_size)."
    )


class InferenceResponse(BaseModel):
    """The answer of an inference request: ``probability`` (FP64), ``class`` (INT64: 1 when
    probability >= the model's threshold) and ``prediction_id`` (BYTES, for /feedback), one value
    per row, unless the request named the outputs it wants."""

    model_name: str
    model_version: str
    id: str | None = None
    parameters: dict[str, Parameter] | None = None
    outputs: list[ResponseOutput]


class InferenceError(BaseModel):
    """Every error answer of the ``/v2`` routes."""

    error: str
