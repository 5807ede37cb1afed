"""A version's report as one self-contained HTML file: inline CSS, the bundle's plots as data
URIs, the mutual-information bars and PSI lines as inline SVG drawn here (the inference image has
no plotting library, and needs none for bars and lines), no script, font or link leaving the file.

Every string that comes from data (feature names, categories, sources, config text) goes through
:func:`html.escape`; numbers are formatted here. The page prints on A4 (``@media print``).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from typing import Any

from porto.contracts.report import (
    DataQualitySection,
    DriftSection,
    ModelCard,
    QualitySection,
    RealizedQuality,
    TrainingSection,
    VersionReport,
)

#: Bars of the mutual-information chart (the strongest features).
MI_BARS = 30
#: Features drawn as PSI lines over time (the most drifted).
PSI_LINES = 8
#: Line colours (colour-blind safe, Okabe-Ito).
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#1b1b1b;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;
margin-top:2rem}h3{margin-bottom:.3rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.2rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#666}.note{background:#fff6e0;border-left:4px solid #e0a000;padding:.4rem .7rem}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:1rem}
figure{margin:0;border:1px solid #ddd;padding:.4rem;break-inside:avoid}
figure img{max-width:100%;height:auto}figcaption{font-size:.85rem;color:#444}
.stable{background:#e8f5e9}.moderate{background:#fff3cd}.major{background:#f8d7da}
.kv th{width:14rem}section{break-inside:auto}.wide{overflow-x:auto}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}a{color:inherit}}
"""


def e(value: Any) -> str:
    """``value`` as text safe in HTML content and attribute values."""
    return html.escape(str(value), quote=True)


def _num(value: float | int | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if value != value:  # NaN
        return "—"
    if float(value).is_integer() and abs(value) >= 2:  # counts stored as floats (rows: 750.0)
        return f"{int(value):,}"
    return f"{value:.{digits}f}"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """A table; cells are HTML already (escape data before)."""
    header = "".join(f"<th>{e(h)}</th>" for h in head)
    thead = f"<thead><tr>{header}</tr></thead>" if any(head) else ""
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    klass = f' class="{e(cls)}"' if cls else ""
    return f"<table{klass}>{thead}<tbody>{body}</tbody></table>"


def _td(value: Any, *, numeric: bool = False, cls: str = "") -> str:
    classes = " ".join(c for c in ("n" if numeric else "", cls) if c)
    attr = f' class="{e(classes)}"' if classes else ""
    return f"<td{attr}>{e(value)}</td>"


def render_html(report: VersionReport, images: dict[str, tuple[bytes, str]]) -> str:
    """The whole report as one HTML document."""
    card = report.card
    title = f"porto model report — {card.name} {card.version}"
    w = report.window
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="muted">Generated {e(report.generated_at)} · log window {e(w.since)} to '
        f"{e(w.until)} ({w.days} day(s), buckets of {w.bucket_hours} h, at most "
        f"{w.sample_per_bucket:,} sampled rows per bucket)</p>",
        _card(card),
        _training(report.training, images),
        _drift(report.drift),
        _quality(report.quality),
        _data_quality(report.data_quality),
        "</body></html>",
    ]
    return "\n".join(parts)


def _card(card: ModelCard) -> str:
    d = card.data
    facts = [
        ("Model", f"{card.name} {card.version} ({card.model_type})"),
        ("Aliases", ", ".join(card.aliases) or "none"),
        ("Created", card.created_at),
        ("Code version", card.code_version),
        ("Threshold", f"{card.threshold:.4f}"),
        ("Data source", d.source + (" (synthetic)" if d.synthetic else "")),
        ("Data fingerprint", d.fingerprint),
        ("Training rows", f"{d.rows:,} rows, {d.columns} columns"),
        ("Label", f"{d.target}: {d.positive_label} = 1, {d.negative_label} = 0"),
        ("Label rate", f"{d.positive_rate:.2%} ({d.positives:,} positives)"),
        ("Missing value", "null" if d.missing_value is None else f"null or {d.missing_value:g}"),
        ("Ignored columns", ", ".join(d.ignored_columns) or "none"),
    ]
    kv = _table(["", ""], ([f"<th>{e(k)}</th>", _td(v)] for k, v in facts), "kv")
    limits = "".join(f"<li>{e(x)}</li>" for x in card.limitations)
    metrics = _table(
        ["metric", card.holdout],
        ([_td(k), _td(_num(v), numeric=True)] for k, v in card.holdout_metrics.items()),
    )
    features = _table(
        ["feature", "kind", "dtype", "categories", "missing"],
        (
            [
                _td(f.name),
                _td(f.kind),
                _td(f.dtype),
                _td("" if f.categories is None else f.categories, numeric=True),
                _td(f.missing),
            ]
            for f in card.features
        ),
    )
    source = {
        "config": "the training config (model_card)",
        "generated": "porto, from the bundle",
    }.get(card.card_source, "the training config (model_card) and porto, from the bundle")
    return (
        '<section id="model-card"><h2>Model card</h2>'
        + kv
        + f"<h3>Intended use</h3><p>{e(card.intended_use)}</p>"
        + f"<h3>Limits</h3><ul>{limits}</ul>"
        + f'<p class="muted">Intended use and limits written by {e(source)}.</p>'
        + f"<h3>Metrics on the holdout ({e(card.holdout)})</h3>{metrics}"
        + f"<h3>Features ({len(card.features)})</h3>{features}</section>"
    )


def _training(training: TrainingSection, images: dict[str, tuple[bytes, str]]) -> str:
    scalars = [
        (k, v)
        for k, v in training.metrics.items()
        if isinstance(v, (int, float, str)) and not isinstance(v, bool)
    ]
    metrics = _table(
        ["metric", "value"],
        (
            [_td(k), _td(_num(v) if isinstance(v, (int, float)) else v, numeric=True)]
            for k, v in scalars
        ),
    )
    figures = []
    for plot in training.plots:
        if plot.image is None or plot.image not in images:
            continue
        data, media = images[plot.image]
        uri = f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"
        figures.append(
            f'<figure><img src="{e(uri)}" alt="{e(plot.title)}">'
            f"<figcaption>{e(plot.title)}</figcaption></figure>"
        )
    mi = training.mutual_information
    mi_html = (
        "<p class='muted'>This version's bundle has no mutual information.</p>"
        if mi is None
        else f"<figure>{bar_chart_svg(mi.values, 'mutual information')}"
        f"<figcaption>Mutual information with the label ({e(mi.method)}"
        + (f", {mi.rows:,} rows" if mi.rows else "")
        + f"), the {min(MI_BARS, len(mi.values))} strongest features</figcaption></figure>"
    )
    return (
        '<section id="training"><h2>Training</h2>'
        + f"<h3>Metrics (metrics.json)</h3>{metrics}"
        + (f'<h3>Plots</h3><div class="plots">{"".join(figures)}</div>' if figures else "")
        + f'<h3 id="mutual-information">Mutual information</h3>{mi_html}</section>'
    )


def bar_chart_svg(values: dict[str, float], what: str) -> str:
    """A horizontal bar chart of the largest ``values`` (at most :data:`MI_BARS`)."""
    items = sorted(values.items(), key=lambda kv: kv[1], reverse=True)[:MI_BARS]
    label_w, bar_w, row_h = 170, 420, 18
    height = row_h * len(items) + 30
    top = max((v for _, v in items), default=0.0) or 1.0
    rows = []
    for i, (name, value) in enumerate(items):
        y = 10 + i * row_h
        width = max(0.0, value) / top * bar_w
        rows.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" font-size="11">'
            f"{e(name)}</text>"
            f'<rect x="{label_w}" y="{y + 2}" width="{width:.1f}" height="{row_h - 4}" '
            f'fill="#0072B2"><title>{e(name)}: {value:.5f}</title></rect>'
            f'<text x="{label_w + width + 4:.1f}" y="{y + 13}" font-size="10">{value:.4f}</text>'
        )
    total_w = label_w + bar_w + 60
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height}" '
        f'viewBox="0 0 {total_w} {height}" role="img" aria-label="{e(what)}">'
        + "".join(rows)
        + "</svg>"
    )


def line_chart_svg(
    starts: list[str], series: dict[str, list[float | None]], guides: list[float]
) -> str:
    """Lines of ``series`` over ``starts`` (None: no point), with horizontal ``guides``."""
    width, height, left, bottom, right, top = 760, 260, 50, 40, 170, 10
    plot_w, plot_h = width - left - right, height - top - bottom
    finite = [v for vals in series.values() for v in vals if v is not None]
    high = max([*finite, *guides, 1e-9]) * 1.05
    n = len(starts)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - v / high * plot_h

    out = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" font-size="10">{high:.2f}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    for g in guides:
        out.append(
            f'<line x1="{left}" y1="{y(g):.1f}" x2="{left + plot_w}" y2="{y(g):.1f}" '
            'stroke="#999" stroke-dasharray="4 3"/>'
            f'<text x="{left + plot_w + 3}" y="{y(g) + 3:.1f}" font-size="9">{g:g}</text>'
        )
    for i in sorted({0, n - 1}):
        if n:
            out.append(
                f'<text x="{x(i):.1f}" y="{height - 22}" text-anchor="middle" font-size="10">'
                f"{e(_short(starts[i]))}</text>"
            )
    for k, (name, values) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        points = [(x(i), y(v)) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for px, py in points:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{colour}"/>')
        ly = top + 12 + 14 * k
        out.append(
            f'<rect x="{left + plot_w + 25}" y="{ly - 8}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + plot_w + 40}" y="{ly + 1}" font-size="10">{e(name)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="PSI over time">'
        + "".join(out)
        + "</svg>"
    )


def _unavailable(reason: str | None) -> str:
    return f'<p class="note">Unavailable: {e(reason or "unknown reason")}</p>'


def _drift(drift: DriftSection) -> str:
    head = '<section id="drift"><h2>Drift per feature (PSI against training)</h2>'
    if not drift.available:
        return head + _unavailable(drift.reason) + "</section>"
    if not drift.features:
        return head + "<p>No served rows of this version in the window.</p></section>"
    starts = [b.start for b in drift.buckets]
    worst = [f.feature for f in drift.features[:PSI_LINES]]
    series = {name: [b.psi.get(name) for b in drift.buckets] for name in worst}
    chart = line_chart_svg(starts, series, [drift.moderate, drift.major])
    summary = _table(
        ["feature", "PSI (window)", "severity", "max PSI in a bucket"],
        (
            [
                _td(f.feature),
                _td(_num(f.psi), numeric=True),
                _td(f.severity, cls=f.severity),
                _td(_num(f.max_bucket_psi), numeric=True),
            ]
            for f in drift.features
        ),
    )
    shown = [b for b in drift.buckets if b.sampled]
    grid = _table(
        ["feature", *(_short(b.start) for b in shown)],
        [
            [f"<th>{e(label)}</th>", *(_td(f"{value:,}", numeric=True) for value in values)]
            for label, values in (
                ("rows served", [b.served for b in shown]),
                ("rows sampled", [b.sampled for b in shown]),
            )
        ]
        + [
            ["<th>score</th>", *(_td(_num(b.score_psi), numeric=True) for b in shown)],
        ]
        + [
            [
                _td(f.feature),
                *(
                    _td(
                        _num(b.psi.get(f.feature)),
                        numeric=True,
                        cls=_severity(b.psi.get(f.feature), drift),
                    )
                    for b in shown
                ),
            ]
            for f in drift.features
        ],
    )
    return (
        head
        + f"<p>PSI &lt; {drift.moderate:g} stable, up to {drift.major:g} moderate, above major. "
        + f"The {len(worst)} most drifted features over time:</p><figure>{chart}</figure>"
        + f"<h3>Over the window</h3>{summary}"
        + "<h3>Per bucket (buckets with served rows; PSI per feature)</h3>"
        + f'<div class="wide">{grid}</div></section>'
    )


def _short(start: str) -> str:
    """A bucket's start as ``YYYY-MM-DD HH:MM`` (UTC)."""
    return start[:16].replace("T", " ")


def _severity(value: float | None, drift: DriftSection) -> str:
    if value is None:
        return ""
    return "major" if value >= drift.major else "moderate" if value >= drift.moderate else "stable"


def _quality_row(q: RealizedQuality, label: str) -> list[str]:
    return [
        _td(label),
        _td(q.labelled, numeric=True),
        _td(q.positives, numeric=True),
        _td(_num(q.roc_auc), numeric=True),
        _td(_num(q.gini), numeric=True),
        _td(_num(q.f1), numeric=True),
        _td(_num(q.precision), numeric=True),
        _td(_num(q.recall), numeric=True),
        _td(_num(q.brier), numeric=True),
        _td(_num(q.ece), numeric=True),
        _td(_num(q.mean_score), numeric=True),
        _td(_num(q.positive_rate), numeric=True),
    ]


def _quality(section: QualitySection) -> str:
    head = '<section id="quality"><h2>Realized quality (from feedback labels)</h2>'
    if not section.available:
        return head + _unavailable(section.reason) + "</section>"
    if section.overall is None:
        return head + "<p>No labelled predictions of this version in the window.</p></section>"
    cols = ["bucket (prediction time)", "labels", "positives", "ROC-AUC", "Gini", "F1"]
    cols += ["precision", "recall", "Brier", "ECE", "mean score", "positive rate"]
    rows = [_quality_row(section.overall, "whole window")]
    rows += [_quality_row(b, _short(b.start or "")) for b in section.buckets]
    return head + _table(cols, rows) + "</section>"


def _data_quality(section: DataQualitySection) -> str:
    head = '<section id="data-quality"><h2>Data quality</h2>'
    if not section.available:
        return head + _unavailable(section.reason) + "</section>"
    table = _table(
        ["feature", "kind", "missing", "missing rate", "in training", "unseen categories"],
        (
            [
                _td(f.feature),
                _td(f.kind),
                _td(f.missing, numeric=True),
                _td(f"{f.missing_rate:.2%}", numeric=True),
                _td(f"{f.training_missing_rate:.2%}", numeric=True),
                _td("" if f.unseen is None else f.unseen, numeric=True),
            ]
            for f in section.features
        ),
    )
    return (
        head
        + f"<p>{section.rows:,} sampled rows counted, of {section.served:,} served in the window "
        "(missing: null, NaN or the missing marker; unseen: a category training never saw).</p>"
        + table
        + "</section>"
    )
