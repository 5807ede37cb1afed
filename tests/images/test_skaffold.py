"""skaffold.yaml agrees with the Dockerfiles, the chart, the Makefile and the kind setup: it
builds each image from its Dockerfile, injects every built image into the chart values that
hold it (checked by rendering the chart the way skaffold's helm deployer does), and forwards the
ports the README promises."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from charts.chartlib import CHART, containers, helm, pod_templates
from harness.tools import make_dry_run, pinned_tools

REPO = Path(__file__).resolve().parents[2]
SKAFFOLD: dict[str, Any] = yaml.safe_load((REPO / "skaffold.yaml").read_text())
IMAGES = {
    "porto-inference": "services/inference/Dockerfile",
    "porto-training": "jobs/training/Dockerfile",
    "porto-ui": "services/ui/Dockerfile",
}


def _release() -> dict[str, Any]:
    (release,) = SKAFFOLD["deploy"]["helm"]["releases"]
    assert isinstance(release, dict)
    return release


def _makefile_default(name: str) -> str:
    match = re.search(rf"^{name} \?= (\S+)$", (REPO / "Makefile").read_text(), re.M)
    assert match, f"Makefile has no `{name} ?=`"
    return match.group(1)


def test_schema_version_and_artifacts() -> None:
    assert SKAFFOLD["apiVersion"].startswith("skaffold/v4beta")
    artifacts = {a["image"]: a for a in SKAFFOLD["build"]["artifacts"]}
    assert sorted(artifacts) == sorted(IMAGES)
    for image, dockerfile in IMAGES.items():
        artifact = artifacts[image]
        assert artifact["context"] == "."
        assert artifact["docker"]["dockerfile"] == dockerfile
        assert (REPO / dockerfile).is_file()
    assert (REPO / ".dockerignore").is_file(), "the build context's .dockerignore"
    assert SKAFFOLD["build"]["local"]["push"] is False


def test_every_built_image_is_injected_into_its_chart_values() -> None:
    templates = _release()["setValueTemplates"]
    for image in IMAGES:
        key = image.removeprefix("porto-")
        var = image.replace("-", "_")
        assert templates[f"{key}.image.repository"] == f"{{{{.IMAGE_REPO_{var}}}}}"
        assert templates[f"{key}.image.tag"] == f"{{{{.IMAGE_TAG_{var}}}}}"
        values = yaml.safe_load((CHART / "charts" / key / "values.yaml").read_text())
        assert {"repository", "tag"} <= set(values["image"])


#: The two kinds of setValueTemplates entries skaffold.yaml uses: a built image's repository or
#: tag, and an environment variable with a default (sprig's `default`).
IMAGE_TEMPLATE = re.compile(r"\{\{\.IMAGE_(?P<part>REPO|TAG)_(?P<image>\w+)\}\}")
ENV_TEMPLATE = re.compile(r'\{\{ \.(?P<var>\w+) \| default "(?P<default>[^"]*)" \}\}')


def fill_template(template: str, built: dict[str, tuple[str, str]], env: dict[str, str]) -> str:
    """A setValueTemplates entry as skaffold fills it in for ``built`` images (name ->
    (repository, tag)) and the environment ``env``."""
    if image := IMAGE_TEMPLATE.fullmatch(template):
        repo, tag = built[image["image"].replace("_", "-")]
        return repo if image["part"] == "REPO" else tag
    if var := ENV_TEMPLATE.fullmatch(template):
        return env.get(var["var"]) or var["default"]
    raise AssertionError(f"{template!r}: a template form this test does not know")


def render_release(
    built: dict[str, tuple[str, str]], env: dict[str, str], *, upgrade: bool = False
) -> list[dict[str, Any]]:
    """The chart rendered as skaffold's helm deployer installs (or upgrades) the release."""
    release = _release()
    args = [
        "template",
        release["name"],
        str(REPO / release["chartPath"]),
        "--namespace",
        release["namespace"],
    ]
    if upgrade:
        args.append("--is-upgrade")
    for values in release["valuesFiles"]:
        assert (REPO / values).is_file()
        args += ["-f", str(REPO / values)]
    for key, template in release["setValueTemplates"].items():
        args += ["--set", f"{key}={fill_template(template, built, env)}"]
    for key, value in release.get("setValues", {}).items():
        args += ["--set", f"{key}={value}"]
    return [d for d in yaml.safe_load_all(helm(*args).stdout) if d]


def test_rendered_release_runs_the_built_images() -> None:
    """Render the chart as skaffold would, with its templates filled in for a local build."""
    built = {image: (f"localhost:5000/{image}", "abc123") for image in IMAGES}
    docs = render_release(built, {})
    images = {c["image"] for pod in pod_templates(docs) for c in containers(pod.spec)}
    ours = {i for i in images if "localhost:5000" in i}
    assert ours == {f"{repo}:{tag}" for repo, tag in built.values()}
    assert not [
        i for i in images if re.search(r"porto-(inference|training|ui):", i) and i not in ours
    ]


def test_locally_built_images_render() -> None:
    """skaffold without a default repository names the images `porto-inference` etc., loaded
    into kind (or built in minikube's daemon): the kind values say so (images.local)."""
    built = {image: (image, "abc123") for image in IMAGES}
    images = {
        c["image"] for pod in pod_templates(render_release(built, {})) for c in containers(pod.spec)
    }
    assert {f"{image}:abc123" for image in IMAGES} <= images


def _make_dev(*variables: str) -> str:
    return make_dry_run("dev", *variables)


def test_dev_puts_the_pinned_tools_on_skaffolds_path() -> None:
    """skaffold runs helm, `kind load` and kubectl by name: `make dev` links the ones the
    Makefile uses (the pinned helm and kind) into a directory first on skaffold's PATH."""
    text = _make_dev()
    links = dict(
        (Path(link).name, (target, Path(link).parent))
        for target, link in re.findall(r'^ln -sf "\$\(command -v (\S+)\)" (\S+)$', text, re.M)
    )
    assert set(links) == {"helm", "kind", "kubectl"}
    pins = pinned_tools()
    assert links["helm"][0].endswith(f"/{pins['helm']}")
    assert links["kind"][0].endswith(f"/{pins['kind']}")
    (directory,) = {parent for _, parent in links.values()}
    assert re.search(rf'PATH="{re.escape(str(directory))}:\$PATH" \\\n\s+skaffold dev ', text), text


@pytest.mark.parametrize(("train", "expected"), [(None, "false"), ("1", "true")])
def test_redeploys_train_only_when_asked(train: str | None, expected: str) -> None:
    """The first deploy installs the release and trains; each redeploy is an upgrade, which
    starts no training run unless `make dev TRAIN=1`."""
    text = _make_dev(*([f"TRAIN={train}"] if train else []))
    (value,) = re.findall(r"^PORTO_DEV_TRAIN=(\S+) ", text, re.M)
    assert value == expected
    built = {image: (image, "abc123") for image in IMAGES}
    env = {"PORTO_DEV_TRAIN": value}

    def training_jobs(docs: list[dict[str, Any]]) -> list[str]:
        return [
            d["metadata"]["name"]
            for d in docs
            if d["kind"] == "Job" and d["metadata"]["name"].startswith("porto-training-r")
        ]

    assert len(training_jobs(render_release(built, env))) == 1, "the install trains"
    redeploy = training_jobs(render_release(built, env, upgrade=True))
    assert len(redeploy) == (1 if expected == "true" else 0)
    # skaffold run directly, without the Makefile: no retraining either.
    assert training_jobs(render_release(built, {}, upgrade=True)) == []


def test_release_matches_the_makefile() -> None:
    release = _release()
    assert release["name"] == _makefile_default("RELEASE")
    assert release["namespace"] == _makefile_default("NAMESPACE")
    assert release["chartPath"] == "charts/porto"


@pytest.mark.parametrize(
    ("service", "namespace", "local_port"),
    [
        ("porto-inference", "porto", 8000),
        ("porto-ui", "porto", 8501),
        ("kube-prometheus-stack-grafana", "monitoring", 3000),
    ],
)
def test_port_forwards(service: str, namespace: str, local_port: int) -> None:
    forwards = {f["resourceName"]: f for f in SKAFFOLD["portForward"]}
    forward = forwards[service]
    assert forward["resourceType"] == "service"
    assert forward["namespace"] == namespace
    assert forward["localPort"] == local_port
    if service.startswith("porto-"):
        chart = service.removeprefix("porto-")
        values = yaml.safe_load((CHART / "charts" / chart / "values.yaml").read_text())
        assert forward["port"] == values["service"]["port"]
    else:
        notes = yaml.safe_load((CHART / "values.yaml").read_text())["notes"]["grafana"]
        assert (notes["service"], notes["namespace"]) == (service, namespace)
        assert namespace == _makefile_default("MONITORING_NAMESPACE")


def test_profiles_for_kind_and_minikube() -> None:
    profiles = {p["name"]: p for p in SKAFFOLD["profiles"]}
    assert set(profiles) == {"kind", "minikube"}
    kind_cluster = yaml.safe_load((REPO / "deploy/kind-config.yaml").read_text())["name"]
    assert profiles["kind"]["activation"] == [{"kubeContext": f"kind-{kind_cluster}"}]
    assert profiles["minikube"]["activation"] == [{"kubeContext": "minikube"}]
    assert _makefile_default("KUBE_CONTEXT") == "kind-$(CLUSTER)"
    assert _makefile_default("CLUSTER") == kind_cluster
