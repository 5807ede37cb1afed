"""`helm install` with the chart's defaults on the node (after the kind-values release of
test_user_path.py is gone): persistence on (PVCs bound by the node's default StorageClass),
the default training run, `helm test --logs`, and `make undeploy` (helm uninstall) keeping
only what it promises, `PURGE=1` the rest.

The only values given are what a registry-less cluster needs: the porto images are local
(``images.local``, the suite's tag) and PostgreSQL is porto's own image
(deploy/porto-values-node.yaml).
"""

from __future__ import annotations

import json
import time

import pytest
from harness.docker import TEST_TAG

from node.shell import FIGURES, UserShell

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]

NAMESPACE = RELEASE = "porto-defaults"


def test_helm_install_with_the_defaults(user: UserShell, images_on_node: str) -> None:
    sets = ["images.local=true", f"postgres.image.tag={TEST_TAG}"] + [
        f"{chart}.image.tag={TEST_TAG}" for chart in ("inference", "ui", "training")
    ]
    began = time.monotonic()
    user.helm(
        "install",
        RELEASE,
        "charts/porto",
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        "-f",
        "deploy/porto-values-node.yaml",
        *[a for s in sets for a in ("--set", s)],
        "--wait",
        "--timeout",
        "20m",
    )
    FIGURES["helm install (chart defaults) -> ready"] = time.monotonic() - began
    try:
        tested = user.helm("test", RELEASE, "--namespace", NAMESPACE, "--logs", "--timeout", "10m")
        assert "porto helm test passed" in tested, tested
        pvcs = json.loads(user.kubectl("-n", NAMESPACE, "get", "pvc", "-o", "json"))["items"]
        assert len(pvcs) == 2 and {p["status"]["phase"] for p in pvcs} == {"Bound"}, pvcs
        assert {p["spec"]["storageClassName"] for p in pvcs} == {"standard"}
    finally:
        user.make("undeploy", f"RELEASE={RELEASE}", f"NAMESPACE={NAMESPACE}", timeout=900)
    kept = user.release_leftovers(NAMESPACE, RELEASE)
    assert kept.count("persistentvolumeclaim/") == 2 and "secret/" in kept, kept
    user.make("undeploy", f"RELEASE={RELEASE}", f"NAMESPACE={NAMESPACE}", "PURGE=1", timeout=900)
    assert not user.release_leftovers(NAMESPACE, RELEASE)
    user.kubectl("delete", "namespace", NAMESPACE, "--wait=true", timeout=600)
