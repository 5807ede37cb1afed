"""The test control plane itself: pinned builds, who may authenticate how, RBAC enforced, the
monitoring CRDs validating, and stand-in status writes the API server accepts."""

from __future__ import annotations

import json
import re
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from harness.kube import EtcdServer, KubeControlPlane
from harness.kube_standins import ControllerStandIns
from harness.ports import port_open
from harness.timing import DEADLINE
from harness.tools import REPO_ROOT, pinned_tools
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.integration


def test_module_pins_match_the_tools_table() -> None:
    """The cached binary names (tools.sh) carry the versions the Go modules build."""
    pins = pinned_tools()
    kube_mod = (REPO_ROOT / "tools" / "kube" / "go.mod").read_text()
    etcd_mod = (REPO_ROOT / "tools" / "etcd" / "go.mod").read_text()
    kube = re.search(r"^require k8s\.io/kubernetes (v\S+)$", kube_mod, re.MULTILINE)
    etcd = re.search(r"^require go\.etcd\.io/etcd/server/v3 (v\S+)$", etcd_mod, re.MULTILINE)
    assert kube and etcd
    assert pins["kube-apiserver"] == f"kube-apiserver-{kube[1]}"
    assert pins["kubectl"] == f"kubectl-{kube[1]}"
    assert pins["etcd"] == f"etcd-{etcd[1]}"
    # Every staging module is replaced by its published version of the same release.
    staging = re.findall(r"^\s+(k8s\.io/\S+) => (\S+) (v\S+)$", kube_mod, re.MULTILINE)
    assert len(staging) > 25
    minor = kube[1].removeprefix("v1.")
    assert all(left == right and v == f"v0.{minor}" for left, right, v in staging), staging


def test_server_reports_the_pinned_version(kube_cluster: KubeControlPlane) -> None:
    with kube_cluster.api_client() as api:
        info: Any = k8s.VersionApi(api).get_code()
    assert info.git_version == "v1.36.3"
    assert (info.major, info.minor) == ("1", "36")
    assert kube_cluster.url.startswith("https://127.0.0.1:")


def test_token_and_client_certificate_authenticate(kube_cluster: KubeControlPlane) -> None:
    cert_config = kube_cluster.apiserver.kubeconfig(
        kube_cluster.apiserver.root / "cert-admin.yaml", client_cert=True
    )
    for kubeconfig in (kube_cluster.kubeconfig, cert_config):
        with kube_cluster.api_client(kubeconfig) as api:
            names = {n.metadata.name for n in k8s.CoreV1Api(api).list_namespace().items}
        assert {"default", "kube-system"} <= names


def test_rbac_refuses_an_unbound_user_and_anonymous_requests(
    kube_cluster: KubeControlPlane,
) -> None:
    namespace = kube_cluster.new_namespace("harness")
    with (
        kube_cluster.api_client(kube_cluster.nobody_kubeconfig(namespace)) as api,
        pytest.raises(ApiException) as refused,
    ):
        k8s.CoreV1Api(api).list_namespaced_config_map(namespace)
    assert refused.value.status == 403
    message = json.loads(refused.value.body)["message"]
    assert 'User "porto-nobody" cannot list resource "configmaps"' in message

    context = ssl.create_default_context(cafile=str(kube_cluster.apiserver.pki.ca_cert))
    url = f"{kube_cluster.url}/api/v1/namespaces/{namespace}/configmaps"
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(url, timeout=5, context=context)
    assert anonymous.value.code in (401, 403)


def test_service_account_tokens_are_issued_and_accepted(kube_cluster: KubeControlPlane) -> None:
    namespace = kube_cluster.new_namespace("harness")
    token = kube_cluster.service_account_token(namespace, "default")
    config = kube_cluster.token_kubeconfig(token, f"sa-{namespace}", namespace)
    with kube_cluster.api_client(config) as api:
        review: Any = k8s.AuthenticationV1Api(api).create_self_subject_review(
            k8s.V1SelfSubjectReview()
        )
    assert review.status.user_info.username == f"system:serviceaccount:{namespace}:default"


def test_monitoring_crds_validate_their_objects(kube_cluster: KubeControlPlane) -> None:
    namespace = kube_cluster.new_namespace("harness")
    with kube_cluster.api_client() as api:
        custom: Any = k8s.CustomObjectsApi(api)
        good = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": "good"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "endpoints": [{"port": "http"}]},
        }
        custom.create_namespaced_custom_object(
            "monitoring.coreos.com", "v1", namespace, "servicemonitors", good
        )
        bad = {**good, "metadata": {"name": "bad"}, "spec": {"endpoints": "not-a-list"}}
        with pytest.raises(ApiException) as rejected:
            custom.create_namespaced_custom_object(
                "monitoring.coreos.com", "v1", namespace, "servicemonitors", bad
            )
    assert rejected.value.status == 422
    assert "spec.endpoints" in json.loads(rejected.value.body)["message"]


def _job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1.36"}],
                }
            },
        },
    }


def _conditions(batch: Any, namespace: str, name: str) -> dict[str, str]:
    job = batch.read_namespaced_job_status(name, namespace)
    return {c.type: c.status for c in (job.status.conditions or [])}


def test_standins_write_job_status_the_server_accepts(kube_cluster: KubeControlPlane) -> None:
    namespace = kube_cluster.new_namespace("harness")
    holding = {"held"}
    with kube_cluster.api_client() as api:
        batch: Any = k8s.BatchV1Api(api)
        with ControllerStandIns(
            api, namespace, fail=lambda n: n == "bad", hold=lambda n: n in holding
        ) as standins:
            for name in ("good", "bad", "held"):
                batch.create_namespaced_job(namespace, _job(name))
            deadline = time.monotonic() + DEADLINE
            while len(standins.completed) + len(standins.failed) < 2:
                assert time.monotonic() < deadline, standins.errors
                time.sleep(0.1)
            assert _conditions(batch, namespace, "held") == {}
            holding.clear()
            while "held" not in standins.completed:
                assert time.monotonic() < deadline, standins.errors
                time.sleep(0.1)
        assert not standins.errors
        assert _conditions(batch, namespace, "good")["Complete"] == "True"
        assert _conditions(batch, namespace, "bad")["Failed"] == "True"
        assert batch.read_namespaced_job_status("good", namespace).status.succeeded == 1


def test_pod_security_admission_enforces_namespace_labels(kube_cluster: KubeControlPlane) -> None:
    """What the chart tests rely on: a ``restricted`` namespace refuses a pod running as root."""
    namespace = kube_cluster.new_namespace(
        "harness-psa", {"pod-security.kubernetes.io/enforce": "restricted"}
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root"},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
    }
    with kube_cluster.api_client() as api, pytest.raises(ApiException) as refused:
        k8s.CoreV1Api(api).create_namespaced_pod(namespace, pod)
    assert refused.value.status == 403
    assert "violates PodSecurity" in json.loads(refused.value.body)["message"]


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    """The error carries the tail of the server's own log, where the reason is."""
    binary = tmp_path / "etcd"
    binary.write_text("#!/bin/sh\necho 'boom: flag provided but not defined: -bogus'\nexit 2\n")
    binary.chmod(0o755)
    server = EtcdServer(binary=binary, root=tmp_path)
    with pytest.raises(RuntimeError, match="etcd did not start") as failed:
        server.start()  # the process exits at once: no need to wait out the deadline
    assert "boom: flag provided but not defined" in str(failed.value)
    assert not server.running


def test_a_control_plane_of_its_own_starts_and_is_torn_down() -> None:
    """Start, answer, and after close: both processes gone, their ports closed, their
    directories (certificates, tokens, etcd data) removed."""
    plane = KubeControlPlane()
    roots = [plane.etcd.root, plane.apiserver.root]
    ports = [plane.etcd.port, plane.etcd.peer_port, plane.apiserver.port]
    with plane:
        assert plane.kubeconfig.is_file()
        assert plane.apiserver.ready() and plane.etcd.ready()
        assert all(port_open(port) for port in ports)
    assert not plane.apiserver.running and not plane.etcd.running
    assert not any(port_open(port) for port in ports)
    assert not any(root.exists() for root in roots)
