"""An upgrade of the release keeps the generated credentials and API key (the Secrets'
`lookup`), runs a new training Job for the new revision, and the API keeps serving with the same
database. Runs after test_release.py (file order)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from e2e.cluster import Kube, Target, eventually
from harness.tools import tool_path

REPO = Path(__file__).resolve().parents[2]


def test_upgrade_keeps_generated_secrets_and_retrains(kube: Kube, target: Target) -> None:
    names = [f"{target.release}-postgres", f"{target.release}-minio", target.api_key_secret]
    before = {n: kube.core.read_namespaced_secret(n, target.namespace).data for n in names}
    jobs_before = {
        j.metadata.name
        for j in kube.batch.list_namespaced_job(
            target.namespace, label_selector="app.kubernetes.io/name=training"
        ).items
    }
    out = subprocess.run(
        [
            str(tool_path("helm")),
            "--kube-context",
            target.context,
            "upgrade",
            target.release,
            str(REPO / "charts/porto"),
            "--namespace",
            target.namespace,
            "--reuse-values",
            "--wait",
            "--timeout",
            "20m",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    after = {n: kube.core.read_namespaced_secret(n, target.namespace).data for n in names}
    assert after == before, "an upgrade must not regenerate passwords or the API key"

    def new_job_succeeded() -> bool:
        jobs = kube.batch.list_namespaced_job(
            target.namespace, label_selector="app.kubernetes.io/name=training"
        ).items
        new = [j for j in jobs if j.metadata.name not in jobs_before]
        return bool(new) and all(j.status.succeeded for j in new)

    eventually(new_job_succeeded, timeout=1800, what="the upgrade's training Job", every=10)
    deployment = kube.apps.read_namespaced_deployment(target.inference, target.namespace)
    assert deployment.status.ready_replicas and deployment.status.ready_replicas >= 1
