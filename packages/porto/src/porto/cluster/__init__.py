"""Talking to Kubernetes: start a training run on the cluster from the chart's Job template.

Used by ``porto-train cluster`` and by the UI's "train a new model" action: two deployables,
hence the shared package (behind its ``cluster`` extra, which the inference image leaves out).
Every failure is a ``ClusterError`` with one line a user can act on (missing RBAC, missing
template, quota, an unreachable API server), never a client traceback.
"""

from porto.cluster.client import ClusterConnection, connect
from porto.cluster.errors import (
    ClusterError,
    ClusterUnreachableError,
    JobFailedError,
    PermissionDeniedError,
    QuotaExceededError,
    TemplateInvalidError,
    TemplateMissingError,
)
from porto.cluster.training_jobs import (
    JobEvent,
    JobOutcome,
    LaunchRequest,
    PodLog,
    RunSummary,
    TrainingLauncher,
    template_name_for,
)

__all__ = [
    "ClusterConnection",
    "ClusterError",
    "ClusterUnreachableError",
    "JobEvent",
    "JobFailedError",
    "JobOutcome",
    "LaunchRequest",
    "PermissionDeniedError",
    "PodLog",
    "QuotaExceededError",
    "RunSummary",
    "TemplateInvalidError",
    "TemplateMissingError",
    "TrainingLauncher",
    "connect",
    "template_name_for",
]
