"""Cluster failures, each with one line that says what happened and what to do about it."""

from __future__ import annotations

import json
import re
from typing import Any

from porto.errors import PortoError


class ClusterError(PortoError):
    """Talking to the Kubernetes API failed."""

    status_code = 502


class ClusterUnreachableError(ClusterError):
    """No API server answers, or no configuration says where one is."""

    status_code = 503


class PermissionDeniedError(ClusterError):
    """RBAC (or authentication) refuses the request."""

    status_code = 403


class QuotaExceededError(ClusterError):
    """A ResourceQuota of the namespace refuses the new object."""

    status_code = 403


class TemplateMissingError(ClusterError):
    """The chart's training Job template is not in the namespace."""

    status_code = 404


class TemplateInvalidError(ClusterError):
    """The template exists but does not hold a usable training Job."""

    status_code = 422


class JobFailedError(ClusterError):
    """The training Job ended in failure (or was deleted while followed)."""

    status_code = 500


#: The quota admission plugin answers 403 like RBAC does, with one of these phrases ("exceeded
#: quota: …", "failed quota: … must specify …", "status unknown for quota: …", "insufficient quota
#: to …"); none of them can be part of a namespace, user or object name.
QUOTA_REFUSAL = re.compile(r"(exceeded|failed|status unknown for|insufficient) quota\b")

#: The RBAC rules a training launcher needs in its namespace (for messages and docs).
LAUNCHER_PERMISSIONS = (
    "get on configmaps (the template), create/get/list on jobs.batch, list on pods, "
    "get on pods/log and list on events"
)


def api_message(body: Any) -> str:
    """The ``message`` of a Kubernetes Status body (the body itself when it is not one)."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            return body.strip()[:500]
        body = parsed
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(body)[:500]


def translate(status: int, body: Any, *, doing: str, namespace: str) -> ClusterError:
    """Turn an API error answer into the ClusterError a user can act on.

    ``doing`` says what was attempted (e.g. "create the training Job"), and starts the message.
    """
    message = api_message(body)
    if status == 401:
        return PermissionDeniedError(
            f"cannot {doing}: the Kubernetes API refused the credentials (401 Unauthorized); "
            "check the kubeconfig context or the ServiceAccount token"
        )
    if status == 403 and QUOTA_REFUSAL.search(message):
        return QuotaExceededError(
            f"cannot {doing}: a ResourceQuota in namespace '{namespace}' refuses it: {message}"
        )
    if status == 403 and "being terminated" in message:
        return ClusterError(f"cannot {doing}: {message}", 403)
    if status == 403:
        return PermissionDeniedError(
            f"cannot {doing}: not allowed by RBAC in namespace '{namespace}': {message}. "
            f"Bind the user or ServiceAccount to a Role in '{namespace}' that allows it; "
            f"starting and following training runs needs {LAUNCHER_PERMISSIONS} (for the UI, "
            "the chart's ui.trainingLauncher.enabled=true creates that Role)"
        )
    if status == 404:
        return ClusterError(f"cannot {doing}: not found: {message}", 404)
    if status == 422:
        return ClusterError(
            f"cannot {doing}: the API server rejected it as invalid: {message}", 422
        )
    detail = f": {message}" if message else ""
    return ClusterError(f"cannot {doing}: the Kubernetes API answered {status}{detail}")
