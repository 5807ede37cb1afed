"""The add-on versions of ``deploy/versions.mk``, which the Makefile includes: the harness fetches
and installs the CRDs of exactly the add-ons ``make cluster`` installs.

``KPS_VERSION`` (kube-prometheus-stack) maps to the prometheus-operator it runs through a
``KPS_OPERATOR_<chart version> := <operator version>`` row; ``GATEWAY_API_VERSION`` is the
Gateway API release the ingress controller (Traefik) implements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.tools import REPO_ROOT

VERSIONS_FILE = REPO_ROOT / "deploy" / "versions.mk"
_ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)\s*(?:\?=|:=)\s*(?P<value>\S+)\s*$")


@dataclass(frozen=True)
class AddonVersions:
    """The pins of deploy/versions.mk."""

    kube_prometheus_stack: str
    #: kube-prometheus-stack chart version -> the prometheus-operator version it runs.
    operators: dict[str, str]
    traefik: str
    gateway_api: str

    @property
    def prometheus_operator(self) -> str:
        """The operator of the pinned kube-prometheus-stack."""
        try:
            return self.operators[self.kube_prometheus_stack]
        except KeyError:
            raise ValueError(
                f"{VERSIONS_FILE.name}: KPS_VERSION {self.kube_prometheus_stack} has no "
                f"KPS_OPERATOR_{self.kube_prometheus_stack} row"
            ) from None


def read(path: Path = VERSIONS_FILE) -> AddonVersions:
    """Parse the assignments of ``path`` (a ValueError naming what is missing)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = _ASSIGNMENT.match(line.split("#", 1)[0])
        if match:
            values[match["name"]] = match["value"]
    operators = {
        name.removeprefix("KPS_OPERATOR_"): version
        for name, version in values.items()
        if name.startswith("KPS_OPERATOR_")
    }
    try:
        return AddonVersions(
            kube_prometheus_stack=values["KPS_VERSION"],
            operators=operators,
            traefik=values["TRAEFIK_VERSION"],
            gateway_api=values["GATEWAY_API_VERSION"],
        )
    except KeyError as exc:
        raise ValueError(f"{path.name}: no {exc.args[0]}") from None


VERSIONS = read()
