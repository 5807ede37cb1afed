"""The inference service's error tree: plain exceptions with their HTTP status codes.

Everything a client can cause is a :class:`porto.errors.PortoError` (the shared tree, so store,
bundle and registry errors keep their status codes); this module adds the service's own cases.
It imports no web framework: scoring/, log/ and monitoring/ raise these, and
:mod:`porto_inference.api.errors` turns them into the JSON error body.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from porto.errors import DataError, PortoError


class ErrorDetail(TypedDict):
    """One problem with a request, as the error body lists it (``row`` only in a batch)."""

    row: NotRequired[int]
    field: str
    message: str


class BadRequestError(PortoError):
    """A body that cannot be parsed at all (malformed JSON or CSV)."""

    status_code = 400


class UnauthorizedError(PortoError):
    """A missing or wrong API key."""

    status_code = 401


class PayloadTooLargeError(PortoError):
    """More rows or bytes than the configured limits."""

    status_code = 413


class UnsupportedMediaTypeError(PortoError):
    """A body in a content type the endpoint does not read."""

    status_code = 415


class ValidationFailedError(DataError):
    """Records that do not match the model's feature schema; ``details`` names each problem."""

    def __init__(self, message: str, details: list[ErrorDetail]) -> None:
        super().__init__(message)
        self.details = details


class ModelNotReadyError(PortoError):
    """No model version could be loaded yet."""

    status_code = 503


class LogFullError(PortoError):
    """The prediction log cannot take more rows now (overflow policy ``backpressure``): the
    request is refused before it is scored, so nothing is answered that is not logged."""

    status_code = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DatabaseUnavailableError(PortoError):
    """PostgreSQL is needed for this call (feedback) and cannot be reached."""

    status_code = 503
