"""helm and kubectl against the test control plane (``harness.kube``).

The pinned binaries (``scripts/tools.sh``) run with the given kubeconfig and with helm's cache,
config and data directories next to it, so tests neither read nor write the user's helm state.
``helm_install`` installs charts/porto into a namespace with ``ControllerStandIns`` completing
the hook Jobs helm waits for (no Job controller runs); a failure carries helm's output.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness.kube import KubeControlPlane
from harness.kube_standins import ControllerStandIns
from harness.timing import DEADLINE, DEADLINE_GO
from harness.tools import REPO_ROOT, tool_path

CHART = REPO_ROOT / "charts" / "porto"
#: The chart's defaults as installed here: porto's images name no registry, so the chart wants
#: `images.local=true` (no image is ever pulled on this API server: pods never run).
DEFAULT_VALUES = CHART / "ci" / "default-values.yaml"
#: How long ``helm install`` may wait for its hooks (the stand-ins take well under a second on an
#: idle machine; this is the suite's one deadline).
HELM_TIMEOUT = DEADLINE_GO


def tool_env(kubeconfig: Path) -> dict[str, str]:
    """The environment for helm or kubectl with ``kubeconfig``: helm keeps repository and cache
    state per user, so the tests keep theirs next to the kubeconfig instead of in $HOME."""
    return {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "HELM_CACHE_HOME": str(kubeconfig.parent / "helm-cache"),
        "HELM_CONFIG_HOME": str(kubeconfig.parent / "helm-config"),
        "HELM_DATA_HOME": str(kubeconfig.parent / "helm-data"),
    }


def run_tool(
    tool: str, kubeconfig: Path, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the pinned ``helm`` or ``kubectl`` with ``kubeconfig``; on failure with ``check``,
    AssertionError carrying the tool's output (MissingToolError if it is not built)."""
    result = subprocess.run(
        [str(tool_path(tool)), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=tool_env(kubeconfig),
        timeout=2 * DEADLINE,  # beyond helm's own --timeout: helm reports what it waited for
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{tool} {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}"
        )
    return result


def helm(
    plane: KubeControlPlane, namespace: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """helm with the admin kubeconfig of ``plane``, in ``namespace``."""
    return run_tool("helm", plane.kubeconfig, *args, "-n", namespace, check=check)


def helm_with_standins(
    plane: KubeControlPlane, namespace: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """helm ``args`` (an install, upgrade or rollback that waits for hook Jobs) in
    ``namespace`` while ``ControllerStandIns`` completes its Jobs; AssertionError with helm's
    output if it fails, or with the stand-ins' errors if they met any."""
    with plane.api_client() as api, ControllerStandIns(api, namespace) as standins:
        result = helm(plane, namespace, *args)
    assert not standins.errors, standins.errors
    return result


def helm_install(
    plane: KubeControlPlane,
    namespace: str,
    *args: str,
    release: str = "porto",
    chart: Path = CHART,
    timeout: str = HELM_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """``helm install <release> charts/porto`` into ``namespace`` with the chart's default
    scenario (``DEFAULT_VALUES``, for charts/porto) and extra ``args`` (e.g. ``"--set",
    "key=value"``), its hook Jobs completed by the stand-ins; fails with helm's output."""
    return helm_with_standins(
        plane,
        namespace,
        "install",
        release,
        str(chart),
        *(["-f", str(DEFAULT_VALUES)] if chart == CHART else []),
        "--timeout",
        timeout,
        *args,
    )


def new_release_namespace(
    plane: KubeControlPlane,
    prefix: str,
    *args: str,
    release: str = "porto",
    timeout: str = HELM_TIMEOUT,
) -> str:
    """A namespace of a test's own (``plane.new_namespace(prefix)``) with charts/porto installed
    by ``helm_install`` (extra ``args``, ``release``, ``timeout`` as there); its name."""
    namespace = plane.new_namespace(prefix)
    helm_install(plane, namespace, *args, release=release, timeout=timeout)
    return namespace
