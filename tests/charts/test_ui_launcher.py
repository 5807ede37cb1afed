"""The UI's training launcher in the chart (ui.trainingLauncher): nothing of it by default; when
on, a Role allowing exactly what starting a run from the template needs, bound to the UI's own
ServiceAccount, a token in the UI pod, the settings in its environment, and clear refusals of
combinations that cannot work. (tests/ui/test_train_action.py installs it on a real API server
and checks what the token may and may not do.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from charts.chartlib import (
    KUBE_VERSION,
    NAMESPACE,
    SCENARIOS,
    by_kind,
    env_of,
    helm,
    job_templates,
    named,
    render,
    standalone,
    template_args,
)
from porto.cluster import template_name_for
from porto_ui.settings import UISettings

ON = "ui.trainingLauncher.enabled=true"
RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
LONG_RELEASE = "a-release-name-of-the-longest-length-helm-allows-x53"  # 53 characters

#: The Role's rules, exactly: the template ConfigMap by name, Jobs without delete, pods and logs.
EXPECTED_RULES = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch"]},
    {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": ["porto-training-job-template"],
        "verbs": ["get"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]


def _ui(docs: list[dict[str, Any]], release: str = "porto") -> tuple[dict[str, Any], Any]:
    deployment = named(docs, "Deployment", f"{release}-ui"[:63].rstrip("-"))
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return deployment["spec"]["template"]["spec"], container


def _failure(*sets: str) -> str:
    """helm's error when rendering the default scenario with ``sets`` fails (AssertionError if
    it renders)."""
    out = helm(*template_args("default", *sets), check=False)
    assert out.returncode != 0, f"rendered with {sets}"
    return out.stderr


#: Scenarios that turn the launcher on: charts/porto/ci/launcher-values.yaml, and the local
#: kind cluster's values (deploy/porto-values-kind.yaml).
LAUNCHER_SCENARIOS = ("launcher", "kind")


@pytest.mark.parametrize("scenario", LAUNCHER_SCENARIOS)
def test_the_launcher_scenarios_render_it(scenario: str) -> None:
    docs = render(scenario)
    assert sorted(d["kind"] for d in docs if d["kind"] in RBAC_KINDS) == ["Role", "RoleBinding"]
    pod, _ = _ui(docs)
    assert pod["automountServiceAccountToken"] is True


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS) - set(LAUNCHER_SCENARIOS)))
def test_nothing_of_it_by_default(scenario: str) -> None:
    docs = render(scenario)
    assert not [d for d in docs if d["kind"] in RBAC_KINDS]
    if not [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "porto-ui"]:
        return  # the UI is off in this scenario
    pod, container = _ui(docs)
    assert pod["automountServiceAccountToken"] is False
    env = env_of(container, docs)
    assert env["PORTO_UI_TRAINING_LAUNCHER"] == {
        "name": "PORTO_UI_TRAINING_LAUNCHER",
        "value": "false",
    }
    service_account = named(docs, "ServiceAccount", pod["serviceAccountName"])
    assert service_account["automountServiceAccountToken"] is False


def test_the_role_allows_exactly_what_launching_needs() -> None:
    docs = render("default", ON)
    rbac = [d for d in docs if d["kind"] in RBAC_KINDS]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in rbac) == [
        ("Role", "porto-ui-training-launcher"),
        ("RoleBinding", "porto-ui-training-launcher"),
    ]
    role = named(docs, "Role", "porto-ui-training-launcher")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == EXPECTED_RULES
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert not any("*" in part for item in granted for part in item)
    assert not any(resource == "secrets" for _, resource, _ in granted)
    writes = {"delete", "deletecollection", "update", "patch"}
    assert not any(verb in writes for *_, verb in granted)
    # The template the Role names is the ConfigMap the training chart renders.
    (template_map,) = [
        c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-job-template")
    ]
    assert role["rules"][1]["resourceNames"] == [template_map["metadata"]["name"]]


def test_the_binding_names_the_ui_service_account_of_the_release_namespace() -> None:
    docs = render("default", ON)
    binding = named(docs, "RoleBinding", "porto-ui-training-launcher")
    pod, _ = _ui(docs)
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "porto-ui-training-launcher",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": NAMESPACE}
    ]
    # The UI's own account (no other pod uses it), created by the chart.
    named(docs, "ServiceAccount", "porto-ui")
    users = [
        d["metadata"]["name"]
        for d in by_kind(docs, "Deployment")
        if d["spec"]["template"]["spec"].get("serviceAccountName") == "porto-ui"
    ]
    assert users == ["porto-ui"]


def test_the_ui_pod_gets_a_token_and_its_settings() -> None:
    docs = render("default", ON)
    pod, container = _ui(docs)
    assert pod["automountServiceAccountToken"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["PORTO_UI_TRAINING_LAUNCHER"]["value"] == "true"
    assert env["PORTO_UI_TRAINING_TEMPLATE"]["value"] == "porto-training-job-template"
    assert env["PORTO_UI_KUBE_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    # Only the UI: the other pods still mount no token.
    others = [
        d["metadata"]["name"]
        for d in by_kind(docs, "Deployment") + by_kind(docs, "StatefulSet")
        if d["spec"]["template"]["spec"].get("automountServiceAccountToken") is not False
    ]
    assert others == ["porto-ui"]


def test_the_rendered_environment_parses_as_the_ui_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    for var in list(os.environ):
        if var.startswith("PORTO_UI_"):
            monkeypatch.delenv(var)
    docs = render("default", ON)
    _, container = _ui(docs)
    for name, entry in env_of(container, docs).items():
        if "secretKeyRef" in entry.get("valueFrom", {}):  # the API key
            value = "k3y-from-the-generated-secret"
        else:
            value = entry.get("value", "porto")  # valueFrom: the downward API's namespace
        monkeypatch.setenv(name, str(value))
    settings = UISettings()
    assert settings.training_launcher is True
    assert settings.training_template == template_name_for("porto")
    assert settings.kube_namespace == "porto"
    assert settings.kubeconfig is None  # in the pod: the ServiceAccount


def test_the_settings_default_template_is_release_portos() -> None:
    assert UISettings.model_fields["training_template"].default == template_name_for("porto")


@pytest.mark.parametrize("release", ["porto", "minio-postgres-lab", LONG_RELEASE])
def test_the_template_name_follows_the_training_charts_naming(release: str) -> None:
    docs = render("default", ON, release=release)
    (template_map,) = [
        c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-job-template")
    ]
    name = template_map["metadata"]["name"]
    assert name == template_name_for(release)
    _, container = _ui(docs, release)
    env = {e["name"]: e for e in container["env"]}
    assert env["PORTO_UI_TRAINING_TEMPLATE"]["value"] == name
    (role,) = by_kind(docs, "Role")
    assert role["rules"][1]["resourceNames"] == [name]
    assert len(role["metadata"]["name"]) <= 63
    # The template's Job is one the launcher can use.
    (job,) = job_templates(docs)
    containers = job["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["training"]


def test_a_named_template_is_the_one_granted_and_used() -> None:
    docs = render(
        "default",
        ON,
        "training.nameOverride=trainer",
        "ui.trainingLauncher.templateName=porto-trainer-job-template",
    )
    (template_map,) = [
        c for c in by_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-job-template")
    ]
    assert template_map["metadata"]["name"] == "porto-trainer-job-template"
    role = named(docs, "Role", "porto-ui-training-launcher")
    assert role["rules"][1]["resourceNames"] == ["porto-trainer-job-template"]
    _, container = _ui(docs)
    env = {e["name"]: e for e in container["env"]}
    assert env["PORTO_UI_TRAINING_TEMPLATE"]["value"] == "porto-trainer-job-template"


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ("training.enabled=false",),
            "ui.trainingLauncher.enabled=true launches runs from the training Job template: set "
            "training.enabled=true and training.jobTemplate.enabled=true",
        ),
        (
            ("training.jobTemplate.enabled=false",),
            "ui.trainingLauncher.enabled=true launches runs from the training Job template",
        ),
        (
            ("training.fullnameOverride=trainer",),
            "set ui.trainingLauncher.templateName to its ConfigMap",
        ),
        (
            ("ui.serviceAccount.create=false",),
            "ui.trainingLauncher.enabled=true binds a Role to the UI's ServiceAccount",
        ),
        (
            ("ui.serviceAccount.create=false", "ui.serviceAccount.name=default"),
            "not `default`, which every pod of the namespace uses",
        ),
    ],
)
def test_combinations_that_cannot_work_are_refused(sets: tuple[str, ...], message: str) -> None:
    assert message in _failure(ON, *sets)


def test_a_dedicated_existing_service_account_is_accepted() -> None:
    docs = render("default", ON, "ui.serviceAccount.create=false", "ui.serviceAccount.name=ui-sa")
    assert "ui-sa" not in [s["metadata"]["name"] for s in by_kind(docs, "ServiceAccount")]
    binding = named(docs, "RoleBinding", "porto-ui-training-launcher")
    assert binding["subjects"][0]["name"] == "ui-sa"


def test_off_when_the_ui_is_off() -> None:
    docs = render("default", ON, "ui.enabled=false")
    assert not [d for d in docs if d["kind"] in RBAC_KINDS]


def test_the_network_policy_leaves_egress_to_the_api_server_open() -> None:
    """The UI policy restricts ingress only, so the UI reaches the Kubernetes API server (on 443
    or 6443, at an address that differs per cluster) with the launcher on; no policy of the chart
    makes the UI pods egress-isolated."""
    docs = render("ingress", ON)
    pod_labels = named(docs, "Deployment", "porto-ui")["spec"]["template"]["metadata"]["labels"]
    for policy in by_kind(docs, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        if all(pod_labels.get(k) == v for k, v in selector.items()):
            assert "Egress" not in policy["spec"]["policyTypes"], policy["metadata"]["name"]
    ui_policy = named(docs, "NetworkPolicy", "porto-ui")
    assert ui_policy["spec"]["policyTypes"] == ["Ingress"]


def test_the_ui_chart_renders_it_on_its_own(tmp_path: Path) -> None:
    """Standalone (no umbrella): the template is still the release's by the training naming."""
    chart = standalone("ui", tmp_path)
    out = helm(
        "template",
        "porto",
        str(chart),
        "--namespace",
        NAMESPACE,
        "--set",
        "trainingLauncher.enabled=true",
    )
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    role = named(docs, "Role", "porto-ui-training-launcher")
    assert role["rules"] == EXPECTED_RULES


def test_the_launcher_objects_are_valid_kubernetes(
    kubeconform: Path, schema_locations: list[str], tmp_path: Path
) -> None:
    docs = render("default", ON)
    path = tmp_path / "launcher.yaml"
    path.write_text(
        yaml.safe_dump_all(
            [d for d in docs if d["kind"] in RBAC_KINDS] + [named(docs, "Deployment", "porto-ui")]
        )
    )
    args = [str(kubeconform), "-strict", "-output", "json", "-verbose"]
    args += ["-kubernetes-version", KUBE_VERSION]
    for location in schema_locations:
        args += ["-schema-location", location]
    out = subprocess.run([*args, str(path)], capture_output=True, text=True)
    resources = json.loads(out.stdout)["resources"]
    assert sorted(r["kind"] for r in resources) == ["Deployment", "Role", "RoleBinding"]
    assert all(r["status"] == "statusValid" for r in resources), resources
