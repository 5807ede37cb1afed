"""What a training run hands back (its manifest, typed metrics and where the bundle went, with the
summary the CLI and the demo print) and the code version its manifest records."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from porto.bundle import Manifest, version_prefix
from porto.contracts.run import RunMetrics


@dataclass
class TrainingResult:
    """What a run produced and where it went."""

    manifest: Manifest
    metrics: RunMetrics
    store_uri: str
    champion: bool

    @property
    def bundle_uri(self) -> str:
        """Where the version's files are."""
        return f"{self.store_uri}/{version_prefix(self.manifest.name, self.manifest.version)}"

    def summary(self) -> list[str]:
        """Return a few human-readable lines about the run, for the CLI and the demo."""
        m = self.metrics
        man = self.manifest
        cm = m.confusion_matrix
        lines = [
            f"trained {man.name} version {man.version} ({man.model_type}, {m.features} "
            f"features, {m.iterations} iterations) in {m.total_seconds:.1f} s "
            f"(fit {m.training_seconds:.1f} s)",
            f"  data       {man.dataset.source}{' [SYNTHETIC]' if man.dataset.synthetic else ''}: "
            f"{man.dataset.rows} rows, {m.class_balance.all.positive_rate:.2%} positive; "
            f"split {m.split.train}/{m.split.validation}/{m.split.test}",
            f"  test       ROC-AUC {m.roc_auc:.4f}  gini {m.gini_normalized:.4f}  "
            f"PR-AUC {m.pr_auc:.4f}  log-loss {m.log_loss:.4f}  Brier {m.brier:.4f}",
            f"  threshold  {m.threshold:.4f} (max F1 on validation): F1 {m.f1:.4f}  "
            f"precision {m.precision:.4f}  recall {m.recall:.4f}  "
            f"[tn {cm.tn} fp {cm.fp} fn {cm.fn} tp {cm.tp}]",
        ]
        if m.oracle_roc_auc is not None:
            lines.append(f"  oracle     ROC-AUC {m.oracle_roc_auc:.4f} (true probabilities)")
        verdict = "yes" if self.champion else "no"
        lines.append(f"  champion   {verdict}: {m.champion_comparison.reason}")
        lines.append(f"  bundle     {self.bundle_uri}")
        return lines


def code_version() -> str:
    """Return ``git describe`` of the checkout the code runs from, else the package version."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "describe", "--tags", "--always", "--dirty"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        described = out.stdout.strip()
        if described:
            return f"git:{described}"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"porto-training {metadata.version('porto-training')}"
    except metadata.PackageNotFoundError:
        return "porto-training (unknown version)"
