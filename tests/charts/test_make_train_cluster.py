"""``make train-cluster`` against a real API server: the target a user types starts a training
run from the installed release's Job template, in the context and namespace it names."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest
from charts.chartlib import REPO
from charts.clusterlib import Release
from harness.kube import KubeControlPlane
from kubernetes import client as k8s

pytestmark = pytest.mark.integration


def test_make_train_cluster_creates_a_run_of_the_release(kube_cluster: KubeControlPlane) -> None:
    namespace = kube_cluster.create_namespace("make-train-cluster")
    Release(kube_cluster, "porto", namespace, "default").install()
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "train-cluster",
            "KUBE_CONTEXT=porto-test",  # the context harness kubeconfigs define
            f"NAMESPACE={namespace}",
            "ARGS=--no-follow --rows 5000",
        ],
        cwd=REPO,
        env={**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with kube_cluster.api_client() as api:
        batch: Any = k8s.BatchV1Api(api)
        jobs = batch.list_namespaced_job(namespace, label_selector="porto.dev/trigger=cli").items
    assert len(jobs) == 1
    assert f"job/{jobs[0].metadata.name} created in namespace {namespace}" in result.stdout
    args = jobs[0].spec.template.spec.containers[0].args
    assert args[0] == "train"
    rows = args.index("--rows")
    assert args[rows + 1] == "5000"
    assert args.count("--rows") == 1 and "--data" not in args
