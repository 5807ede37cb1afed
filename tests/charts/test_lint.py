"""`helm lint --strict` of the umbrella chart in every scenario, and of each subchart alone with
the helper library; values that would install but not work, refused with the fix (porto's
unpublished images among them); the pinned helm as a release build, so no test needs
`--kube-version` to satisfy the chart's kubeVersion."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from charts.chartlib import (
    CHART,
    KUBE_VERSION,
    SCENARIOS,
    SUBCHARTS,
    containers,
    helm,
    pod_templates,
    render,
    render_text,
    standalone,
    template_args,
)
from harness import kubeschemas


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_lint_strict(scenario: str) -> None:
    args = ["lint", "--strict", str(CHART), "-f", str(SCENARIOS[scenario])]
    out = helm(*args, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[WARNING]" not in out.stdout and "[ERROR]" not in out.stdout, out.stdout


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_template_renders(scenario: str) -> None:
    assert "kind:" in render_text(scenario)


@pytest.mark.parametrize("subchart", SUBCHARTS)
def test_subchart_lints_alone(subchart: str, tmp_path: Path) -> None:
    """Alone, with its one dependency, the helper library (chartlib.standalone)."""
    out = helm("lint", "--strict", str(standalone(subchart, tmp_path)), check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[WARNING]" not in out.stdout and "[ERROR]" not in out.stdout, out.stdout


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["minio.enabled=false"], "global.objectStore.existingSecret"),
        (["postgres.enabled=false"], "global.database.existingSecret"),
        (["inference.image.tag=latest"], "/image/tag"),
        (["training.image.tag=latest"], "/image/tag"),
        (["training.data.uri=/data/train.csv"], "s3://"),
        (["inference.config.no_such_setting=1"], "no_such_setting"),
        (["inference.replicas=2"], "replicas"),
        (["ui.image.tag=latest"], "/image/tag"),
        (["ui.config.no_such_setting=1"], "no_such_setting"),
        (["ui.api.url=porto-inference:8000"], "/api/url"),
        (["inference.enabled=false"], "ui.api.url"),
        (["inference.service.port=8080"], "set ui.api.port=8080"),
        (["inference.fullnameOverride=api"], "ui.api.url"),
    ],
)
def test_broken_values_are_refused_with_the_fix(values: list[str], message: str) -> None:
    out = helm(*template_args("default", *values), check=False)
    assert out.returncode != 0, f"{values} rendered"
    assert message in out.stderr, out.stderr


@pytest.mark.parametrize(
    "sets",
    [
        # The UI then talks to an API elsewhere.
        ["inference.enabled=false", "ui.api.url=https://api.example.com"],
        ["ui.enabled=false"],
        ["training.enabled=false"],
        ["postgres.enabled=false", "global.database.existingSecret=db"],
        ["minio.enabled=false", "global.objectStore.existingSecret=s3"],
        ["dashboards.enabled=false"],
    ],
    ids=lambda sets: sets[0].split(".")[0] + "-off",
)
def test_each_subchart_can_be_switched_off(sets: list[str]) -> None:
    subchart = sets[0].split(".")[0]
    docs = render("default", *sets)
    assert docs
    labels = {d["metadata"].get("labels", {}).get("helm.sh/chart", "") for d in docs}
    assert not [x for x in labels if x.startswith(f"{subchart}-")], f"{subchart} still renders"


# --- porto's images: unpublished, so a registry or `images.local=true` ----------------------------

#: The subcharts running porto's own images: its services', tagged IMAGE_TAG, and porto-minio,
#: tagged with the MinIO version it holds (the minio chart's appVersion).
SERVICE_IMAGES = ("inference", "ui", "training")
PORTO_IMAGES = (*SERVICE_IMAGES, "minio")
MINIO_APP_VERSION = yaml.safe_load((CHART / "charts/minio/Chart.yaml").read_text())["appVersion"]
#: The flags the refusal gives, in full (a user copies them).
LOCAL_FLAG = "--set images.local=true"
REGISTRY_FLAGS = (
    "--set inference.image.registry=REGISTRY,ui.image.registry=REGISTRY,"
    "training.image.registry=REGISTRY,minio.image.registry=REGISTRY "
    "--set inference.image.tag=TAG,ui.image.tag=TAG,training.image.tag=TAG"
)
#: The same as `--set` expressions, with a registry and a tag.
REGISTRY_SETS = [f"{chart}.image.registry=ghcr.io/acme" for chart in PORTO_IMAGES] + [
    f"{chart}.image.tag=v1" for chart in SERVICE_IMAGES
]


def _plain_template(*sets: str) -> subprocess.CompletedProcess[str]:
    """`helm template porto charts/porto` with only ``sets``: no values file, no other flag."""
    args = ["template", "porto", str(CHART)]
    for expression in sets:
        args += ["--set", expression]
    return helm(*args, check=False)


def test_a_plain_install_is_refused_with_the_exact_flags() -> None:
    """Without a registry the pods would sit in ErrImagePull until the install times out."""
    out = _plain_template()
    assert out.returncode != 0
    (message,) = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert "inference.image.repository=porto-inference names no registry" in message
    assert "porto's images are not published" in message and "make images" in message
    assert LOCAL_FLAG in message and REGISTRY_FLAGS in message
    assert "Images in charts/porto/README.md" in message


@pytest.mark.parametrize(
    ("sets", "named"),
    [
        (["inference.image.registry=ghcr.io/acme"], "ui.image.repository=porto-ui"),
        (
            ["inference.image.registry=ghcr.io/acme", "ui.image.registry=ghcr.io/acme"],
            "training.image.repository=porto-training",
        ),
        (["inference.enabled=false", "ui.enabled=false"], "training.image.repository"),
        (
            [f"{chart}.image.registry=ghcr.io/acme" for chart in SERVICE_IMAGES],
            "minio.image.repository=porto-minio",
        ),
    ],
)
def test_each_local_image_is_named(sets: list[str], named: str) -> None:
    out = _plain_template(*sets)
    assert out.returncode != 0
    assert named in out.stderr, out.stderr


@pytest.mark.parametrize(
    "sets",
    [
        ["images.local=true"],
        ["global.imageRegistry=registry.example.com/mirror"],
        [f"{chart}.image.registry=ghcr.io/acme" for chart in PORTO_IMAGES],
        [f"{chart}.image.repository=acme/porto-{chart}" for chart in PORTO_IMAGES],
        [
            "inference.image.registry=ghcr.io/acme",
            "minio.image.registry=ghcr.io/acme",
            "ui.enabled=false",
            "training.enabled=false",
        ],
    ],
    ids=["local", "global-registry", "each-registry", "repository-with-a-path", "only-the-api"],
)
def test_images_with_a_registry_or_loaded_render(sets: list[str]) -> None:
    out = _plain_template(*sets)
    assert out.returncode == 0, out.stderr


def test_images_pushed_to_a_registry_are_pulled_from_it() -> None:
    docs = [d for d in yaml.safe_load_all(_plain_template(*REGISTRY_SETS).stdout) if d]
    images = {c["image"] for pod in pod_templates(docs) for c in containers(pod.spec)}
    ours = {i for i in images if "porto-" in i}
    assert ours == {f"ghcr.io/acme/porto-{c}:v1" for c in SERVICE_IMAGES} | {
        f"ghcr.io/acme/porto-minio:{MINIO_APP_VERSION}"
    }
    assert "docker.io/library/postgres:17.6-bookworm" in images, "the mirror is not needed"


# --- the pinned helm ---------------------------------------------------------------------------


def test_the_pinned_helm_is_a_release_build() -> None:
    """Stamped as helm's own release build is (scripts/tools.sh): its version, and the
    Kubernetes version it assumes without a cluster, so the chart's kubeVersion (>=1.27) holds
    with no --kube-version."""
    version = helm("version", "--template", "{{.Version}} {{.GitTreeState}} {{.GitCommit}}")
    commit = "3d8990f0836691f0229297773f3524598f46bda6"  # helm's tag v3.19.0
    assert version.stdout.split() == ["v3.19.0", "clean", commit]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == ">=1.27.0-0"
    out = helm("template", "porto", str(CHART), "-f", str(SCENARIOS["default"]), check=False)
    assert out.returncode == 0, out.stderr
    lint = helm("lint", "--strict", str(CHART), "-f", str(SCENARIOS["default"]), check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_pinned_helm_assumes_the_validated_kubernetes_version(tmp_path: Path) -> None:
    """What `helm template` assumes without a cluster is the version the chart's manifests are
    validated against (kubeconform's schemas, chartlib.KUBE_VERSION): helm's client-go minor."""
    probe = tmp_path / "probe"
    (probe / "templates").mkdir(parents=True)
    (probe / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (probe / "templates" / "version.yaml").write_text(
        "kind: ConfigMap\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
    )
    rendered = yaml.safe_load(helm("template", "probe", str(probe)).stdout)
    assert rendered["data"]["kube"] == f"v{KUBE_VERSION}" == f"v{kubeschemas.K8S_VERSION}"
