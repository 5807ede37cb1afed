"""One error tree for porto.

Every failure that a user can cause or meet carries a one-line message and the HTTP status it maps
to, so the CLI prints the message and exits non-zero, and the API answers with that status.
"""

from __future__ import annotations


class PortoError(Exception):
    """Base class: a clear one-line message plus the HTTP status it corresponds to."""

    status_code: int = 500

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code

    def __str__(self) -> str:
        return self.message


class ConfigError(PortoError):
    """Invalid configuration (YAML, CLI override, environment)."""

    status_code = 400


class DataError(PortoError):
    """A dataset or request payload that cannot be used as given."""

    status_code = 422


class NotFoundError(PortoError):
    """A model, version, alias or artifact that does not exist."""

    status_code = 404


class StoreError(PortoError):
    """The artifact store is unreachable, refuses the credentials or lacks a bucket."""

    status_code = 503


class IntegrityError(PortoError):
    """An artifact whose content does not match the checksum in its manifest."""

    status_code = 502
