"""``porto-inference replay``: a replay (:mod:`porto_inference.scoring.replay`) from the command
line, with the model from the registry and its own connection to the log's database, and the
report as a readable table.

It needs no running API: the store and the database of the settings (``PORTO_INFERENCE_*``,
``DATABASE_URL``), so it runs on a workstation in local mode and as ``kubectl exec`` in the
chart's inference pod alike. Every failure is one line: a bad date, an empty window, an unknown
version, a store or database that cannot be reached, a window without rows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from porto.contracts.replay import Agreement, ReplayReport, ScoreQuality
from porto.errors import ConfigError, NotFoundError
from porto.registry import Registry
from porto.store import open_store

from porto_inference.log.database import command_connection, redact
from porto_inference.log.replay import ReplayLog, Window
from porto_inference.scoring.model import ServedModel
from porto_inference.scoring.replay import replay
from porto_inference.settings import Settings


def parse_time(option: str, value: str) -> datetime:
    """An ISO 8601 date or time of an option (UTC unless it says otherwise); ConfigError
    naming the option otherwise."""
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{option} {value!r} is not a date or time: give ISO 8601, e.g. 2026-12-05 or "
            "2026-12-05T13:00:00Z (UTC unless an offset is given)"
        ) from None


def load_model(settings: Settings, ref: str) -> ServedModel:
    """The registry version ``ref`` (a version or alias) names, verified and loaded; StoreError
    when the store cannot be reached, NotFoundError for an unknown version."""
    uri = settings.resolved_store_uri
    store = open_store(uri, settings.s3_options() if uri.startswith("s3://") else None)
    store.check()
    registry = Registry(store, settings.model_name)
    try:
        version = registry.resolve(ref)
    except ConfigError as exc:  # not even a valid name: it cannot exist
        raise NotFoundError(
            f"model {settings.model_name!r} has no version or alias {ref!r} in {store.uri}"
        ) from exc
    return ServedModel.load(store, settings.model_name, version)


async def run(
    settings: Settings,
    url: str,
    model: ServedModel,
    window: Window,
    *,
    requested: str,
    record: bool,
    progress: Callable[[str], None],
) -> ReplayReport:
    """Replay ``window`` of the log at ``url`` with ``model``; DatabaseUnavailableError (one
    line, the URL without its password) when the database cannot be reached or fails, and
    NotFoundError when the window holds no row."""
    async with command_connection(settings, url, "the replay") as conn:
        report = await replay(
            ReplayLog(conn), model, window, requested=requested, record=record, progress=progress
        )
    if report.rows_read == 0:
        filters = "".join(
            f", {name} {value!r}"
            for name, value in (
                ("served version", window.model_version),
                ("endpoint", window.endpoint),
            )
            if value is not None
        )
        raise NotFoundError(
            f"no logged rows of model {window.model_name!r}{filters} in "
            f"[{window.start.isoformat()}, {window.end.isoformat()}) at {redact(url)}"
        )
    return report


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _agreement(a: Agreement) -> str:
    return (
        f"mean |Δscore| {_num(a.mean_abs_delta, 6)}, max {_num(a.max_abs_delta, 6)}, "
        f"same class {_share(a.class_agreement)}, 0→1 {_share(a.became_positive)}, "
        f"1→0 {_share(a.became_negative)}"
    )


def _quality_row(side: str, q: ScoreQuality) -> str:
    c = q.calibration
    return (
        f"  {side:<9} {_num(q.roc_auc):>7} {_num(q.gini):>7} {q.f1:>7.4f} {q.precision:>7.4f} "
        f"{q.recall:>7.4f} {c.ece:>7.4f} {c.brier:>7.4f} {c.mean_score:>7.4f} "
        f"{c.positive_rate:>7.4f}"
    )


def table(report: ReplayReport) -> str:
    """The report as lines for a terminal."""
    limit = "none" if report.limit is None else f"{report.limit:,}"
    lines = [
        f"replay of {report.model_name} logged in [{report.from_.isoformat()}, "
        f"{report.to.isoformat()}) with {report.version} ({report.requested}, threshold "
        f"{report.threshold:.4f})",
        f"rows: {report.rows_read:,} read (limit {limit}"
        f"{', reached' if report.truncated else ''}), {report.rows_replayed:,} replayed, "
        f"{report.rows_skipped:,} skipped, in {report.seconds:.1f} s",
        f"agreement: {_agreement(report.agreement)}",
    ]
    if report.skipped:
        lines.append("skipped:")
        lines += [f"  {s.rows:>8,}  {s.reason} (e.g. {s.examples[0]})" for s in report.skipped]
    lines.append("by served version:")
    for v in report.by_served_version:
        lines.append(
            f"  {v.model_version}: {v.rows:,} rows, {v.skipped:,} skipped; "
            f"{_agreement(v.agreement)}"
        )
    if report.labelled is None:
        lines.append("labels: none among the rows replayed")
    else:
        lab = report.labelled
        lines.append(f"labels: {lab.labels:,} ({lab.positives:,} positive)")
        lines.append(
            f"  {'':<9} {'AUC':>7} {'Gini':>7} {'F1':>7} {'prec':>7} {'recall':>7} "
            f"{'ECE':>7} {'Brier':>7} {'score':>7} {'pos.rate':>7}"
        )
        lines.append(_quality_row("served", lab.served))
        lines.append(_quality_row("replayed", lab.replayed))
    if report.recorded is not None:
        lines.append(
            f"recorded: {report.recorded:,} new row(s) in challenger_predictions "
            f"(source 'replay', version {report.version})"
        )
    return "\n".join(lines)
