"""What an inference worker serves, as ``GET /ready``, ``GET /models`` (``served``,
``last_error``) and ``POST /models/{version}/promote`` report it, and clients (the UI) read it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Fallback(BaseModel):
    """The worker serves a stand-in because the version its alias names cannot be loaded."""

    alias: str
    version: str = Field(description="The version the alias names, which could not be loaded.")
    reason: str
    error: str
    source: str = Field(
        description="Where the served version came from: 'previously served', the fallback "
        "alias, or 'newest verified version'."
    )
    since: str


class ServedModel(BaseModel):
    """The version a worker serves."""

    name: str
    version: str
    alias: str | None = Field(description="The alias it was loaded by, if any.")
    loaded_at: str
    load_seconds: float
    fallback: Fallback | None = None


class LoadError(BaseModel):
    """The last version a worker refused to load, and why."""

    version: str | None = Field(
        description="None when not even the alias could be resolved (no version to name)."
    )
    reason: str
    error: str
    at: str


class DatabaseStatus(BaseModel):
    """The prediction log's state (it does not gate readiness)."""

    state: str = Field(description="'up', 'down', 'connecting' or 'disabled'.")
    error: str | None = None
    queued_rows: int = 0
    written_rows: int = 0
    dropped_rows: int = 0
    quarantined_rows: int = 0


class ChallengerState(BaseModel):
    """A configured challenger as one worker sees it (``GET /ready``, the comparison answer)."""

    ref: str = Field(description="The alias or version configured (CHALLENGERS).")
    version: str | None = Field(description="The version it names and this worker has loaded.")
    loaded: bool
    canary: bool = Field(description="Whether it is the canary (the first challenger).")
    error: str | None = Field(
        default=None, description="Why it is skipped (cannot load); retried every poll interval."
    )
    shadow_error: str | None = Field(
        default=None,
        description="The latest shadow failure of this worker (rows dropped, counted in "
        "challenger_shadow_skipped_total), until its next shadow rows are written.",
    )


class ReadyResponse(BaseModel):
    """``GET /ready``: 200 with ``ready`` once a model is loaded, else 503 ``not_ready``."""

    status: Literal["ready", "not_ready"]
    model: ServedModel | None = None
    model_error: LoadError | None = None
    database: DatabaseStatus | None = None
    challengers: list[ChallengerState] = Field(
        default_factory=list,
        description="Configured challengers (shadow, canary); empty when none is configured.",
    )


class PromoteResponse(BaseModel):
    """``POST /models/{version}/promote``: the new champion and what the answering worker serves."""

    name: str
    version: str
    alias: str
    previous: str | None = Field(description="The champion before, if there was one.")
    changed: bool
    served: ServedModel | None
    error: str | None = None
    propagation_s: float = Field(
        description="Within this many seconds the other workers and replicas serve it too."
    )


class ReloadResponse(BaseModel):
    """``POST /models/reload``: whether this worker swapped versions, and what it serves now."""

    changed: bool
    error: str | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Why the alias's version could not be served (absent when it could).",
    )
    served: ServedModel | None
    last_error: LoadError | None
